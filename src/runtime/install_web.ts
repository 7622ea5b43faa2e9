// Browsers and edge workers install no runtime sources: the core's default rejects, saying why.
export {};
