"""Development tooling: the sandbox Asterisk root, baresip phones, demo scenarios and the AMI
recorder. Production code (pbx/ and the rest) never imports it."""
