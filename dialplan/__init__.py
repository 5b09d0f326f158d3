"""The number plan: which dialed numbers are the hotline's, how the carrier sends them, the
emergency numbers and the callbacks' caller ID; and the Asterisk dialplan generated from it."""
