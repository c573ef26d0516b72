"""Virt drivers of the reference compute service (only ``fake``)."""
