"""Fireline notifications: incident events delivered to the org's webhook endpoints."""
