// Copies the pinned libraries' browser builds (and their licences) from node_modules into
// ../static/vendor, the files the console serves. Their output is committed, so `make run`
// needs no npm; `make console-assets` (part of `make test`) re-runs it after `npm ci` and
// tests/console/test_assets.py checks the committed copies are byte-identical.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "vendor");

export const FILES = {
  "echarts.common.min.js": "echarts/dist/echarts.common.min.js",
  "echarts.LICENSE.txt": "echarts/LICENSE",
  "cytoscape.min.js": "cytoscape/dist/cytoscape.min.js",
  "cytoscape.LICENSE.txt": "cytoscape/LICENSE",
  "htmx.min.js": "htmx.org/dist/htmx.min.js",
  "htmx.LICENSE.txt": "htmx.org/LICENSE",
};

mkdirSync(out, { recursive: true });
for (const [target, source] of Object.entries(FILES)) {
  copyFileSync(join(here, "node_modules", source), join(out, target));
  console.log(`static/vendor/${target} <- node_modules/${source}`);
}
