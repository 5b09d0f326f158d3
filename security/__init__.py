"""Keeping the SIP ports safe with home seats on the internet: the firewall edge that carries out
the flood guard's blocks (acd/security.py decides)."""
