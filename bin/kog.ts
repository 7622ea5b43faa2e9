#!/usr/bin/env node
// The npm package's `kog` bin: runs the kog command and exits with its code.
import process from "node:process";
import { main } from "../kog.ts";

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
