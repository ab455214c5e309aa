// A staticlet plugin in AssemblyScript: copy this folder to start one.
// It denies pods without the labels the settings require:
//
//   requiredLabels: [team]
import { Request, Validation, SettingsCheck, Value, onValidate, onSettings } from "@staticlet/plugin-sdk";

// The ABI's exports: only the entry file's exports become the module's.
export * from "@staticlet/plugin-sdk/assembly/exports";

// Handlers are registered from top-level code, which runs once per instance
// (in the module's start function, under the host's call deadline).
onSettings((settings: Value, result: SettingsCheck): void => {
  const labels = settings.get("requiredLabels");
  if (!labels.isArray) result.reject("settings: requiredLabels: must be a list of label keys");
});

onValidate((req: Request, result: Validation): void => {
  const required = req.settings.get("requiredLabels");
  const labels = req.manifest.get("metadata").get("labels");
  for (let i = 0; i < required.length; i++) {
    const key = required.at(i).asString();
    if (!labels.has(key)) {
      result.deny("MissingLabel", "the pod must have the label " + key, "metadata.labels");
    }
  }
});
