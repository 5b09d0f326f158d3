"""The production edge to Asterisk: AMI and FastAGI protocol code, their asyncio adapters, the
action executor. The development tooling is in devtools/."""
