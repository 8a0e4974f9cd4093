// Validate every KEDA object in the given YAML files against KEDA's API schema, as
// @kubernetes-models/keda ships it (compiled from KEDA's own Go API types). Exits 1 on the
// first file with an invalid object, naming the object and the failing paths.
//   node validate-keda.mjs ../keda-scaledobject.yaml
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import {
  ScaledObject,
  TriggerAuthentication,
} from "@kubernetes-models/keda/keda.sh/v1alpha1";

const kinds = { ScaledObject, TriggerAuthentication };
let failed = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const data = doc.toJS();
    if (!data || data.apiVersion !== "keda.sh/v1alpha1") continue;
    const Model = kinds[data.kind];
    const name = `${file}: ${data.kind}/${data.metadata?.name}`;
    if (!Model) {
      console.error(`${name}: no schema for this kind here`);
      failed += 1;
      continue;
    }
    try {
      new Model(data).validate();
      checked += 1;
      console.log(`${name}: valid`);
    } catch (error) {
      failed += 1;
      console.error(`${name}: ${error.message}`);
    }
  }
}
if (checked === 0 && failed === 0) {
  console.error("No KEDA object found in the given files.");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
