"""The local stack: Kafka and FerretDB on this machine, and the services as processes
(``stack.py``: ``from deploy.local import stack``, or ``python deploy/local/stack.py``)."""
