// The dashboard charts' colours and axis styles, one set for every chart module.

export const CALL = "#4ea1ff";
export const PUT = "#ff9a3c";
export const TOTAL = "#e6edf3";
export const SPOT = "#3fb950";
export const MARK = "#ffd479";
export const UP = "#3fb950";
export const DOWN = "#f85149";
export const TEXT = { color: "#8b949e", fontSize: 11 };
export const SPLIT = { lineStyle: { color: "#2a323d" } };
