"""Fireline's local tooling: what ``make run``, the test suite and ``make bench`` start.

Nothing here ships in a service image (the Dockerfile installs contracts, runtime and one service):
a deployment brings its own PostgreSQL and Kafka.

* :mod:`~fireline_devtools.postgres`: find a PostgreSQL server or start an embedded one.
* :mod:`~fireline_devtools.kafka`: Apache Kafka from Maven Central, one node or a KRaft quorum.
* :mod:`~fireline_devtools.tansu`: the zero-Java fallback broker (memory only).
* :mod:`~fireline_devtools.brokers`: which of the two a run gets, and what its clients must know.
* :mod:`~fireline_devtools.processes`: the five services as processes, wired as a deployment is.
* :mod:`~fireline_devtools.devrun`: ``make run``.
"""
