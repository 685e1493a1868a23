"""Fleet health: binary and PromQL checks over the inventory, flap-protected states."""
