"""Agents' SIP seats (issue 16): the PJSIP endpoints of the roster generated and applied over AMI,
per-agent credentials, and the TLS certificates home seats register with."""
