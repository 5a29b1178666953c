import type {
  MeterOption,
  MetricAttributes,
  MetricDescription,
  MetricObserver,
  MetricsMeter,
} from "./metrics-meter.js";

/** Records one measurement of an instrument (does nothing while no meter is bound). */
export type MetricRecorder = (value: number, attributes?: MetricAttributes) => void;

type Bind = (meter: MetricsMeter) => (() => void) | undefined;

/**
 * A package's OpenTelemetry instruments, declared up front and created on a meter once there is
 * one: at once for a given `Meter`, after `loadGlobal` resolved for the global one (measurements
 * before that are not recorded), never for `false`. A measurement never throws into the caller.
 */
export class MetricInstruments {
  readonly #binds: Bind[] = [];
  readonly #unbinds: (() => void)[] = [];
  #meter: MetricsMeter | undefined;
  #closed = false;
  /** Resolves once the meter is known (bound, or none). */
  readonly ready: Promise<void>;

  constructor(option: MeterOption, loadGlobal: () => Promise<MetricsMeter | undefined>) {
    if (option === false) this.ready = Promise.resolve();
    else if (option !== undefined) {
      this.#meter = option;
      this.ready = Promise.resolve();
    } else {
      this.ready = loadGlobal().then(
        (meter) => this.#bind(meter),
        () => undefined,
      );
    }
  }

  /** A monotonic counter. */
  counter(name: string, description: MetricDescription): MetricRecorder {
    return this.#recorder((meter) => {
      const counter = meter.createCounter(name, description);
      return (value, attributes) => counter.add(value, attributes);
    });
  }

  /** A counter that goes up and down (a current amount). */
  upDownCounter(name: string, description: MetricDescription): MetricRecorder {
    return this.#recorder((meter) => {
      const counter = meter.createUpDownCounter(name, description);
      return (value, attributes) => counter.add(value, attributes);
    });
  }

  /** A histogram (a distribution of values). */
  histogram(name: string, description: MetricDescription): MetricRecorder {
    return this.#recorder((meter) => {
      const histogram = meter.createHistogram(name, description);
      return (value, attributes) => histogram.record(value, attributes);
    });
  }

  /** An observable gauge, read by `observe` at each collection until `close()`. */
  gauge(name: string, description: MetricDescription, observe: MetricObserver): void {
    this.#declare((meter) => {
      const gauge = meter.createObservableGauge(name, description);
      const callback: MetricObserver = (result) => {
        try {
          observe(result);
        } catch {
          // A collection must not fail because of one gauge.
        }
      };
      gauge.addCallback(callback);
      return () => gauge.removeCallback(callback);
    });
  }

  /** Stops recording and unregisters the gauges' callbacks (so the meter holds nothing of ours). */
  close(): void {
    this.#closed = true;
    this.#meter = undefined;
    for (const unbind of this.#unbinds.splice(0)) unbind();
  }

  #recorder(create: (meter: MetricsMeter) => MetricRecorder): MetricRecorder {
    let record: MetricRecorder | undefined;
    this.#declare((meter) => {
      record = create(meter);
      return () => {
        record = undefined;
      };
    });
    return (value, attributes) => {
      if (record === undefined) return;
      try {
        record(value, attributes);
      } catch {
        // Metrics never fail the operation they measure.
      }
    };
  }

  #declare(bind: Bind): void {
    this.#binds.push(bind);
    if (this.#meter !== undefined) this.#run(bind, this.#meter);
  }

  #bind(meter: MetricsMeter | undefined): void {
    if (meter === undefined || this.#closed) return;
    this.#meter = meter;
    for (const bind of this.#binds) this.#run(bind, meter);
  }

  #run(bind: Bind, meter: MetricsMeter): void {
    try {
      const unbind = bind(meter);
      if (unbind !== undefined) this.#unbinds.push(unbind);
    } catch {
      // A meter that cannot create an instrument leaves that instrument off.
    }
  }
}
