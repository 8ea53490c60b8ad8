// Name → method module. Each method folder exports `run(engine, config)` returning a report.
export const METHODS: Record<string, unknown> = {};
