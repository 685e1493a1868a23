"""`kansoku web`: the fleet, the OpenStack control plane, traces and the healer as server-rendered pages."""
