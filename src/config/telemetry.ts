// `telemetry`: traces, metrics and error reporting, with MAS's keys and defaults (all off).
import { number, oneOf, optionalString, stringList, url } from './formats.js';
import type { Section } from './section.js';

export const telemetrySchema = {
  tracing: {
    exporter: oneOf('Where to send traces', ['none', 'otlp', 'stdout'], 'none'),
    endpoint: url('OTLP endpoint', undefined),
    propagators: stringList('Trace context propagators (tracecontext, baggage, jaeger)', []),
    sample_rate: number('Share of traces sampled', undefined, { min: 0, max: 1 }),
  },
  metrics: {
    exporter: oneOf('Where to send metrics', ['none', 'otlp', 'prometheus', 'stdout'], 'none'),
    endpoint: url('OTLP endpoint', undefined),
  },
  sentry: {
    dsn: optionalString('Sentry DSN'),
    environment: optionalString('Sentry environment'),
    sample_rate: number('Share of events sent', undefined, { min: 0, max: 1 }),
    traces_sample_rate: number('Share of transactions traced', undefined, { min: 0, max: 1 }),
  },
};

export const telemetry: Section<'telemetry'> = {
  key: 'telemetry',
  description: ['Telemetry: `tracing.exporter` and `metrics.exporter` (none, otlp, stdout; metrics also', 'prometheus, served by the `prometheus` listener resource), `sentry.dsn`.'],
  schema: telemetrySchema,
};
