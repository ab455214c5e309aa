// host-namespaces-as denies pods that share the node's network, PID or IPC
// namespace, unless their namespace is exempt: staticlet's reference plugin
// in AssemblyScript. Settings:
//
//   exemptNamespaces: [kube-system]   namespaces whose pods may use host namespaces
//   warnOnly: false                   warn instead of deny
import {
  Request, Validation, SettingsCheck, Value, onValidate, onSettings, logDebug,
} from "@staticlet/plugin-sdk";

export * from "@staticlet/plugin-sdk/assembly/exports";

const HOST_FIELDS: string[] = ["hostNetwork", "hostPID", "hostIPC"];
const CODES: string[] = ["HostNetwork", "HostPID", "HostIPC"];

function exempt(settings: Value, namespace: string): bool {
  const list = settings.get("exemptNamespaces");
  for (let i = 0; i < list.length; i++) {
    if (list.at(i).asString() == namespace) return true;
  }
  return false;
}

function checkSettings(settings: Value, result: SettingsCheck): void {
  if (!settings.exists || settings.isNull) return;
  if (!settings.isObject) {
    result.reject("settings: must be an object");
    return;
  }
  const keys = settings.keys();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k != "exemptNamespaces" && k != "warnOnly") {
      result.reject("settings: unknown field " + k);
      return;
    }
  }
  const list = settings.get("exemptNamespaces");
  if (list.exists && !list.isArray) {
    result.reject("settings: exemptNamespaces: must be a list of namespace names");
    return;
  }
  for (let i = 0; i < list.length; i++) {
    if (!list.at(i).isString || list.at(i).asString() == "") {
      result.reject("settings: exemptNamespaces[" + i.toString() + "]: must be a non-empty string");
      return;
    }
  }
  const warnOnly = settings.get("warnOnly");
  if (warnOnly.exists && !warnOnly.isBool) result.reject("settings: warnOnly: must be true or false");
}

function validate(req: Request, result: Validation): void {
  const pod = req.manifest;
  const namespace = pod.get("metadata").get("namespace").asString();
  if (exempt(req.settings, namespace)) {
    logDebug("namespace " + namespace + " is exempt");
    return;
  }
  const warnOnly = req.settings.get("warnOnly").asBool();
  const spec = pod.get("spec");
  for (let i = 0; i < HOST_FIELDS.length; i++) {
    if (!spec.get(HOST_FIELDS[i]).asBool()) continue;
    const message = "pod " + pod.get("metadata").get("name").asString() + " must not set " + HOST_FIELDS[i];
    if (warnOnly) result.warn(message);
    else result.deny(CODES[i], message, "spec." + HOST_FIELDS[i]);
  }
}

onSettings(checkSettings);
onValidate(validate);
