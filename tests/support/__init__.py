"""Helpers shared by the tests: scenarios (oslo.log request scenarios), es (the Elasticsearch
loopback server and real oslo.log output), heal (Alertmanager webhook bodies, a receiver in
a thread), otlp (an OTLP/HTTP receiver) and loopback (one HTTP server on 127.0.0.1 for every
recorded-response server the tests run)."""
