"""The fact stream out of the engine: the notifier (websocket, MQTT and metrics come with the
live-events issue)."""
