"""dvr-verify: prove a Neutron DVR north/south path works, node by node."""
