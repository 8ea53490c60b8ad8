// Suites that need Node APIs (files, processes).
export {};
