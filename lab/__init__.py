"""A small real OpenStack on loopback for the tracer to read (`kansoku lab`).

cli: `kansoku lab up|traffic|status|down` and the start/stop sequence; services: how each
real service (keystone, placement, glance, nova) is configured and started; traffic: the
requests driven through them and their expected outcomes; rpc: an RPC pair on nova's
oslo.messaging plumbing. Installed as `kansoku.lab`; depends only on the core.
"""
