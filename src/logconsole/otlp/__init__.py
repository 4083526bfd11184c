"""OpenTelemetry logs in and out: the OTLP/HTTP door of the collector and the
forwarding of committed records, one vocabulary for both (:mod:`.names`)."""
