// The single executable's entry point. The bundle travels as an asset and is compiled here with
// the V8 code cache scripts/train-code-cache.mjs made at build time by running real VERSION, ADD,
// CHECK and DEL calls through it: the functions those calls need arrive compiled instead of being
// parsed and compiled lazily on every exec. (The SEA's own code cache covers only this file and
// what is compiled eagerly.) A rejected cache (other V8 flags, e.g. from NODE_OPTIONS) only costs
// the compile it would have saved.
"use strict";
const sea = require("node:sea");
const vm = require("node:vm");
const path = require("node:path");
const { wrap, FILENAME } = { wrap: (s) => `(function (require, module, __filename, __dirname) {${s}\n})`, FILENAME: "tscni.cjs" };
let cachedData;
try {
  cachedData = Buffer.from(sea.getRawAsset("tscni.cjs.cache"));
} catch {
  cachedData = undefined; // built without one
}
const script = new vm.Script(wrap(sea.getAsset("tscni.cjs", "utf8")), { filename: FILENAME, cachedData });
if (process.env.TSCNI_BOOT_DEBUG) process.stderr.write(`tscni boot: code cache ${cachedData ? (script.cachedDataRejected ? "rejected" : "accepted") : "absent"}\n`);
script.runInThisContext()(require, { exports: {} }, process.execPath, path.dirname(process.execPath));
