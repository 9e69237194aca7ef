"""Kafka for one service, one module per job; each module's docstring names its public surface.

* ``broker`` — the FastStream broker: the consumer and the dead-letter producer live on it;
* ``topics`` — every topic and its DLQ created, with leaders, before anything uses them;
* ``producing`` — the outbox relay's producer and the broker address list;
* ``consuming`` — the batch consumer that runs the handlers of the ``ConsumerRegistry``
  (``fireline_runtime.consumers``) in inbox transactions;
* ``dead_letter`` — records no handler can apply, to ``<topic>.dlq`` with the reason.

``fireline_runtime.lifecycle`` connects them at start-up and takes them down at shutdown.
"""
