"""Differential privacy: accounting (dp-accounting), and the audit's mechanism type, attack and bounds."""
