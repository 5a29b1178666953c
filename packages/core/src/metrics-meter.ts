import { AssuredError } from "./errors.js";

/** Attributes of a measurement (OpenTelemetry's `Attributes`, restricted to what Assured uses). */
export type MetricAttributes = Readonly<Record<string, string | number | boolean>>;

/** What an instrument is described with (OpenTelemetry's `MetricOptions`). */
export interface MetricDescription {
  description: string;
  unit: string;
}

/** What an observable gauge's callback reports through (OpenTelemetry's `ObservableResult`). */
export interface MetricObservation {
  observe(value: number, attributes?: MetricAttributes): void;
}

/** The callback of an observable gauge. */
export type MetricObserver = (result: MetricObservation) => void;

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api`) Assured uses: any `Meter`
 * satisfies it, and the packages need no types from `@opentelemetry/api` (an optional peer).
 */
export interface MetricsMeter {
  createCounter(
    name: string,
    options?: MetricDescription,
  ): { add(value: number, attributes?: MetricAttributes): void };
  createUpDownCounter(
    name: string,
    options?: MetricDescription,
  ): { add(value: number, attributes?: MetricAttributes): void };
  createHistogram(
    name: string,
    options?: MetricDescription,
  ): { record(value: number, attributes?: MetricAttributes): void };
  createObservableGauge(
    name: string,
    options?: MetricDescription,
  ): {
    addCallback(callback: MetricObserver): void;
    removeCallback(callback: MetricObserver): void;
  };
}

/** The `meter` option: a `Meter` to record to, `false` for none, or undefined for the global one. */
export type MeterOption = MetricsMeter | false | undefined;

/** Imports `@opentelemetry/api` (a function of the package that imports, so it resolves there). */
export type ImportOpenTelemetry = () => Promise<unknown>;

/**
 * Throws `INVALID_ARGUMENT` unless `meter` is undefined, `false` or an OpenTelemetry `Meter`.
 * @param where the option's name in the message, e.g. `"options.meter"`.
 */
export function assertMeterOption(meter: unknown, where: string): asserts meter is MeterOption {
  if (meter === undefined || meter === false) return;
  const candidate = meter as Partial<Record<keyof MetricsMeter, unknown>> | null;
  const methods = [
    "createCounter",
    "createUpDownCounter",
    "createHistogram",
    "createObservableGauge",
  ] as const;
  if (
    typeof candidate === "object" &&
    candidate !== null &&
    methods.every((m) => typeof candidate[m] === "function")
  ) {
    return;
  }
  throw new AssuredError(
    "INVALID_ARGUMENT",
    `${where} must be an OpenTelemetry Meter (metrics.getMeter(name) of @opentelemetry/api) or false to record no metrics.`,
  );
}

/**
 * The global OpenTelemetry meter named `scope`, through `importApi` (a dynamic import of the
 * optional peer `@opentelemetry/api`). Resolves undefined when the package cannot be loaded
 * (not installed, a browser bundle without it) or is not the API: metrics are then off.
 */
export async function loadGlobalMeter(
  importApi: ImportOpenTelemetry,
  scope: string,
  version?: string,
): Promise<MetricsMeter | undefined> {
  let api: unknown;
  try {
    api = await importApi();
  } catch {
    return undefined;
  }
  const metrics = (api as { metrics?: { getMeter?: unknown } } | null)?.metrics;
  if (typeof metrics?.getMeter !== "function") return undefined;
  try {
    const meter: unknown = metrics.getMeter(scope, version);
    assertMeterOption(meter, "the global meter");
    return meter === false ? undefined : meter;
  } catch {
    return undefined;
  }
}
