import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/config-loader.js';
import type { SeqdConfig } from '../../src/config/config-schema.js';
import { ConfigError } from '../../src/domain/errors/index.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

/*
 * deploy/kubernetes, checked offline: rendered by a small kustomize (the subset the
 * kustomizations use, compared with `kubectl kustomize` where kubectl is installed), every object
 * validated against the Kubernetes API schemas that the npm package kubernetes-models ships (its
 * JSON schemas through ajv, and its type declarations through the TypeScript compiler, which
 * refuses unknown fields as the API server's strict field validation does), then the references
 * between the objects and seqd's own configuration checked. The checks answer lists of problems,
 * so that broken copies show each of them can fail.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ROOT = join(REPO, 'deploy/kubernetes');
const VARIANTS = {
  default: ROOT,
  'bundled-etcd': join(ROOT, 'overlays/bundled-etcd'),
  'external-etcd': join(ROOT, 'overlays/external-etcd'),
} as const;
type Variant = keyof typeof VARIANTS;
/** cli.ts ends a shutdown that takes longer than this after SIGTERM (delay included). */
const SHUTDOWN_LIMIT_MS = 30_000;
/** What the downward API would give (fieldRef), for resolving the pods' environment. */
const POD_IP = '10.244.1.7';

type Labels = Record<string, string>;
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Labels; annotations?: Labels };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
}
interface KeyPath {
  key: string;
  path: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string; scheme?: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Labels; limits?: Labels };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  emptyDir?: object;
  configMap?: { name: string; items?: KeyPath[] };
  secret?: { secretName: string; items?: KeyPath[] };
  projected?: { sources: { configMap?: { name: string; items?: KeyPath[] }; secret?: { name: string; items?: KeyPath[] } }[] };
}
interface AffinityTerm {
  weight: number;
  podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Labels } };
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type: string } };
  affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: AffinityTerm[] } };
}
interface Workload extends Obj {
  spec: {
    replicas?: number;
    selector: { matchLabels: Labels };
    serviceName?: string;
    podManagementPolicy?: string;
    template: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { resources: { requests: Labels } } }[];
  };
}
interface ServiceObj extends Obj {
  spec: { clusterIP?: string; publishNotReadyAddresses?: boolean; selector?: Labels; ports: { name?: string; port: number; targetPort?: number | string }[] };
}
interface PdbObj extends Obj {
  spec: { maxUnavailable?: number | string; selector: { matchLabels: Labels } };
}
interface IngressRule {
  from?: { podSelector?: { matchLabels?: Labels } }[];
  ports?: { port?: number | string }[];
}
interface NetPolObj extends Obj {
  spec: { podSelector: { matchLabels?: Labels }; policyTypes?: string[]; ingress?: IngressRule[] };
}

const id = (o: Obj) => `${o.kind}/${o.metadata.name}`;
const rel = (path: string) => relative(REPO, path);
const ofKind = <T extends Obj>(objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind) as T[];
const find = <T extends Obj>(objects: Obj[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;
const workloads = (objects: Obj[]) => objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'StatefulSet');
/** A selector selects pods when it is not empty and every one of its labels is on them. */
const selects = (selector: Labels | undefined, labels: Labels) => !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const podsSelectedBy = (objects: Obj[], selector: Labels | undefined) => workloads(objects).filter((w) => selects(selector, w.spec.template.metadata.labels));
const clone = <T>(value: T): T => structuredClone(value);

// ---------------------------------------------------------------------------------------------
// A small kustomize: resources (files, folders), configMapGenerator (files, literals, behavior),
// generatorOptions.disableNameSuffixHash and JSON 6902 patches. Anything else is refused, so
// that a kustomization never uses a feature this renderer would silently get wrong.

interface Generator {
  name: string;
  behavior?: 'create' | 'replace' | 'merge';
  files?: string[];
  literals?: string[];
}
interface Kustomization {
  resources?: string[];
  configMapGenerator?: Generator[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
  patches?: { path: string; target: { kind: string; name: string } }[];
}
interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

function onlyKeys(where: string, value: object, allowed: string[]): void {
  const extra = Object.keys(value).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new Error(`${where}: ${extra.join(', ')} is beyond the test's kustomize renderer (extend it, and compare with kubectl kustomize)`);
}

function readObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${rel(file)}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Obj | null;
    return value === null ? [] : [value];
  });
}

/** Renders the kustomization in `dir`; every file it reads is added to `used`. */
function render(dir: string, used = new Set<string>()): Obj[] {
  const file = join(dir, 'kustomization.yaml');
  used.add(file);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  onlyKeys(rel(file), k, ['apiVersion', 'kind', 'resources', 'configMapGenerator', 'generatorOptions', 'patches']);
  const objects: Obj[] = [];
  for (const r of k.resources ?? []) {
    const path = resolve(dir, r);
    if (statSync(path).isDirectory()) objects.push(...render(path, used));
    else {
      used.add(path);
      objects.push(...readObjects(path));
    }
  }
  if (k.generatorOptions) onlyKeys(`${rel(file)} generatorOptions`, k.generatorOptions, ['disableNameSuffixHash']);
  for (const g of k.configMapGenerator ?? []) {
    onlyKeys(`${rel(file)} configMapGenerator ${g.name}`, g, ['name', 'behavior', 'files', 'literals']);
    // Hashed names would need every reference rewritten: the kustomizations keep names fixed.
    if (k.generatorOptions?.disableNameSuffixHash !== true) throw new Error(`${rel(file)}: generators need generatorOptions.disableNameSuffixHash: true`);
    const data: Record<string, string> = {};
    for (const f of g.files ?? []) {
      const [key, path] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [basename(f), f];
      used.add(resolve(dir, path));
      data[key] = readFileSync(resolve(dir, path), 'utf8');
    }
    for (const l of g.literals ?? []) data[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    const existing = find(objects, 'ConfigMap', g.name);
    const behavior = g.behavior ?? 'create';
    if (behavior === 'create') {
      if (existing) throw new Error(`${rel(file)}: ConfigMap ${g.name} exists already (behavior: replace or merge)`);
      objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
    } else {
      if (!existing) throw new Error(`${rel(file)}: behavior ${behavior} needs ConfigMap ${g.name} from a resource`);
      existing.data = behavior === 'replace' ? data : { ...existing.data, ...data };
    }
  }
  for (const p of k.patches ?? []) {
    onlyKeys(`${rel(file)} patches`, p, ['path', 'target']);
    onlyKeys(`${rel(file)} patches target`, p.target, ['kind', 'name']);
    const path = resolve(dir, p.path);
    used.add(path);
    const ops = parse(readFileSync(path, 'utf8')) as unknown;
    if (!Array.isArray(ops)) throw new Error(`${rel(path)}: only JSON 6902 patches (a list of operations) are rendered here`);
    const target = find(objects, p.target.kind, p.target.name);
    if (!target) throw new Error(`${rel(path)}: no ${p.target.kind}/${p.target.name} to patch`);
    for (const op of ops as PatchOp[]) applyPatch(target, op, rel(path));
  }
  return objects;
}

function applyPatch(doc: object, op: PatchOp, where: string): void {
  const parts = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = parts.pop() ?? '';
  let node: unknown = doc;
  for (const part of parts) node = Array.isArray(node) ? node[Number(part)] : (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'object' || node === null) throw new Error(`${where}: ${op.path} does not exist`);
  if (Array.isArray(node)) {
    const at = last === '-' ? node.length : Number(last);
    if (op.op === 'add') node.splice(at, 0, op.value);
    else if (op.op === 'replace' && at < node.length) node[at] = op.value;
    else if (op.op === 'remove' && at < node.length) node.splice(at, 1);
    else throw new Error(`${where}: ${op.op} ${op.path} is not rendered here`);
  } else {
    const record = node as Record<string, unknown>;
    if (op.op === 'add' || (op.op === 'replace' && last in record)) record[last] = op.value;
    else if (op.op === 'remove' && last in record) delete record[last];
    else throw new Error(`${where}: ${op.op} ${op.path} is not rendered here`);
  }
}

const renders = new Map<Variant, Obj[]>();
const usedFiles = new Set<string>();
for (const [variant, dir] of Object.entries(VARIANTS) as [Variant, string][]) renders.set(variant, render(dir, usedFiles));
const rendered = (variant: Variant): Obj[] => clone(renders.get(variant) ?? []);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes API schemas (kubernetes-models).

type Model = new (data: unknown) => { validate(): void };

/** Each object against the JSON schema of its kind: types, required fields, formats, enums. */
async function schemaProblems(objects: Obj[]): Promise<string[]> {
  const problems: string[] = [];
  for (const o of objects) {
    let model: Model | undefined;
    try {
      model = ((await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<string, Model | undefined>)[o.kind];
    } catch {
      model = undefined;
    }
    if (!model) {
      problems.push(`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new model(o).validate();
    } catch (error) {
      problems.push(`${id(o)}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/**
 * Unknown fields (a typo such as `readinessprobe` passes the JSON schemas, which allow extra
 * properties, and the API server drops or refuses it): each object is type-checked as an object
 * literal of the package's declared type, whose excess property check names any field the API
 * does not have. The source is given to the compiler in memory, next to this file so that
 * kubernetes-models resolves from node_modules.
 */
function unknownFieldProblems(objects: Obj[]): string[] {
  const file = fileURLToPath(new URL('./kubernetes-manifests.types-check.ts', import.meta.url));
  const imports = objects.map((o, i) => `import type { I${o.kind} as T${i} } from 'kubernetes-models/${o.apiVersion}/${o.kind}';`);
  const owners: { from: number; object: Obj }[] = [];
  let line = imports.length;
  const consts = objects.map((o, i) => {
    const text = `export const m${i}: T${i} = ${JSON.stringify(o, null, 2)};`;
    owners.push({ from: line, object: o });
    line += text.split('\n').length;
    return text;
  });
  const source = [...imports, ...consts].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const lines = source.split('\n');
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== file || d.start === undefined) return message;
    const at = d.file.getLineAndCharacterOfPosition(d.start).line;
    const owner = owners.filter((o) => o.from <= at).pop();
    return `${owner ? id(owner.object) : 'imports'}: ${message} (at ${lines[at]?.trim()})`;
  });
}

// ---------------------------------------------------------------------------------------------
// References between the objects.

/** A container port by name or number, as Services, probes and network policies name them. */
function containerPort(containers: Container[], port: number | string | undefined): number | undefined {
  const ports = containers.flatMap((c) => c.ports ?? []);
  return typeof port === 'number' ? ports.find((p) => p.containerPort === port)?.containerPort : ports.find((p) => p.name === port)?.containerPort;
}

function dataOf(o: Obj | undefined): Record<string, string> | undefined {
  return o ? { ...o.data, ...o.stringData } : undefined;
}

/** The ConfigMap or Secret keys a volume shows, by file path inside the volume. */
function volumeFiles(objects: Obj[], v: Volume): Map<string, { source: string; content: string | undefined }> | undefined {
  const sources = v.projected?.sources ?? [
    ...(v.configMap ? [{ configMap: v.configMap }] : []),
    ...(v.secret ? [{ secret: { name: v.secret.secretName, items: v.secret.items } }] : []),
  ];
  if (sources.length === 0) return undefined;
  const files = new Map<string, { source: string; content: string | undefined }>();
  for (const s of sources) {
    const ref = s.configMap ? { kind: 'ConfigMap', ...s.configMap } : s.secret ? { kind: 'Secret', ...s.secret } : undefined;
    if (!ref) continue;
    const data = dataOf(find(objects, ref.kind, ref.name));
    // Without items every key is shown: a missing object then shows as one missing file.
    const items = ref.items ?? (data ? Object.keys(data).map((key) => ({ key, path: key })) : [{ key: '(any)', path: '(any)' }]);
    for (const item of items) files.set(item.path, { source: `${ref.kind}/${ref.name} key ${item.key}`, content: data?.[item.key] });
  }
  return files;
}

/** The content a container sees at `path` through a ConfigMap, Secret or projected volume. */
function fileInPod(objects: Obj[], pod: PodSpec, container: Container, path: string): string | undefined {
  const mount = (container.volumeMounts ?? []).filter((m) => path.startsWith(`${m.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const volume = pod.volumes?.find((v) => v.name === mount?.name);
  if (!mount || !volume) return undefined;
  return volumeFiles(objects, volume)?.get(path.slice(mount.mountPath.length + 1))?.content;
}

/** Kubernetes' `$(VAR)` expansion in args and env values (`$$` is a literal `$`). */
function expand(text: string, vars: Labels): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string | undefined) => (name === undefined ? '$' : (vars[name] ?? all)));
}

/** The environment the container starts with: envFrom, then env in order, downward API sampled. */
function containerEnv(objects: Obj[], c: Container, podName: string, secretValues: Labels = {}): Labels {
  const env: Labels = {};
  for (const from of c.envFrom ?? []) {
    const o = from.configMapRef ? find(objects, 'ConfigMap', from.configMapRef.name) : from.secretRef ? find(objects, 'Secret', from.secretRef.name) : undefined;
    Object.assign(env, dataOf(o));
  }
  const fields: Labels = { 'metadata.name': podName, 'metadata.namespace': 'default', 'status.podIP': POD_IP };
  for (const e of c.env ?? []) {
    const v = e.valueFrom;
    const value =
      e.value !== undefined
        ? expand(e.value, env)
        : v?.fieldRef
          ? fields[v.fieldRef.fieldPath]
          : v?.secretKeyRef
            ? (secretValues[`${v.secretKeyRef.name}/${v.secretKeyRef.key}`] ?? dataOf(find(objects, 'Secret', v.secretKeyRef.name))?.[v.secretKeyRef.key])
            : v?.configMapKeyRef
              ? dataOf(find(objects, 'ConfigMap', v.configMapKeyRef.name))?.[v.configMapKeyRef.key]
              : undefined;
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

/** Selectors, ports, volumes and the ConfigMaps, Secrets and accounts the pods use. */
function referenceProblems(objects: Obj[]): string[] {
  const problems: string[] = [];
  const one = (what: string, selector: Labels | undefined) => {
    const hit = podsSelectedBy(objects, selector);
    if (hit.length !== 1) problems.push(`${what} selects the pods of ${hit.length} workloads (${hit.map(id).join(', ') || 'none'})`);
    return hit;
  };
  for (const w of workloads(objects)) {
    const pod = w.spec.template.spec;
    if (!selects(w.spec.selector.matchLabels, w.spec.template.metadata.labels)) problems.push(`${id(w)}: its selector does not match its pod labels`);
    for (const term of pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
      if (!selects(term.podAffinityTerm.labelSelector.matchLabels, w.spec.template.metadata.labels)) problems.push(`${id(w)}: its anti-affinity does not select its own pods`);
    }
    if (pod.serviceAccountName && !find(objects, 'ServiceAccount', pod.serviceAccountName)) problems.push(`${id(w)}: no ServiceAccount ${pod.serviceAccountName}`);
    const volumes = [...(pod.volumes ?? []).map((v) => v.name), ...(w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name)];
    const mounted = new Set(pod.containers.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
    for (const v of volumes) if (!mounted.has(v)) problems.push(`${id(w)}: volume ${v} is mounted nowhere`);
    for (const v of pod.volumes ?? []) {
      for (const [path, file] of volumeFiles(objects, v) ?? []) if (file.content === undefined) problems.push(`${id(w)}: volume ${v.name} file ${path}: no ${file.source}`);
    }
    for (const c of pod.containers) {
      for (const m of c.volumeMounts ?? []) if (!volumes.includes(m.name)) problems.push(`${id(w)} container ${c.name}: mounts volume ${m.name}, which the pod does not have`);
      for (const from of c.envFrom ?? []) {
        const ref = from.configMapRef ? ['ConfigMap', from.configMapRef.name] : from.secretRef ? ['Secret', from.secretRef.name] : [];
        if (!find(objects, ref[0] ?? '', ref[1] ?? '')) problems.push(`${id(w)} container ${c.name}: envFrom ${ref.join('/')} does not exist`);
      }
      for (const e of c.env ?? []) {
        const secret = e.valueFrom?.secretKeyRef;
        const map = e.valueFrom?.configMapKeyRef;
        const [kind, ref] = secret ? ['Secret', secret] : map ? ['ConfigMap', map] : [];
        if (kind && ref && dataOf(find(objects, kind, ref.name))?.[ref.key] === undefined) {
          problems.push(`${id(w)} container ${c.name}: env ${e.name} names ${kind}/${ref.name} key ${ref.key}, which does not exist`);
        }
      }
      // A $(VAR) without its variable stays as it is in the process's arguments.
      const vars = containerEnv(objects, c, 'pod-0');
      for (const text of [...(c.command ?? []), ...(c.args ?? []), ...Object.values(vars)]) {
        const left = /\$\([A-Za-z_][A-Za-z0-9_]*\)/.exec(expand(text, vars));
        if (left) problems.push(`${id(w)} container ${c.name}: ${left[0]} in "${text}" is not defined`);
      }
      for (const [kind, probe] of [['startup', c.startupProbe], ['readiness', c.readinessProbe], ['liveness', c.livenessProbe]] as const) {
        if (probe?.httpGet && containerPort([c], probe.httpGet.port) === undefined) problems.push(`${id(w)} container ${c.name}: ${kind} probe port ${probe.httpGet.port} is not a container port`);
      }
    }
  }
  for (const s of ofKind<ServiceObj>(objects, 'Service')) {
    for (const w of one(`${id(s)}: its selector`, s.spec.selector)) {
      for (const p of s.spec.ports) {
        if (containerPort(w.spec.template.spec.containers, p.targetPort ?? p.port) === undefined) problems.push(`${id(s)}: target port ${p.targetPort ?? p.port} is not a port of ${id(w)}`);
      }
    }
  }
  for (const pdb of ofKind<PdbObj>(objects, 'PodDisruptionBudget')) one(`${id(pdb)}: its selector`, pdb.spec.selector.matchLabels);
  for (const np of ofKind<NetPolObj>(objects, 'NetworkPolicy')) {
    for (const w of one(`${id(np)}: its podSelector`, np.spec.podSelector.matchLabels)) {
      for (const rule of np.spec.ingress ?? []) {
        for (const p of rule.ports ?? []) if (containerPort(w.spec.template.spec.containers, p.port) === undefined) problems.push(`${id(np)}: port ${p.port} is not a port of ${id(w)}`);
        for (const from of rule.from ?? []) one(`${id(np)}: a from podSelector`, from.podSelector?.matchLabels);
      }
    }
  }
  for (const w of workloads(objects).filter((x) => x.spec.serviceName !== undefined)) {
    const svc = find<ServiceObj>(objects, 'Service', w.spec.serviceName ?? '');
    if (!svc || svc.spec.clusterIP !== 'None') problems.push(`${id(w)}: serviceName ${w.spec.serviceName} is not a headless Service`);
    else if (!selects(svc.spec.selector, w.spec.template.metadata.labels)) problems.push(`${id(w)}: Service ${svc.metadata.name} does not select its pods`);
    else if (!svc.spec.publishNotReadyAddresses) problems.push(`${id(w)}: Service ${svc.metadata.name} hides members that are not ready, which then cannot find each other`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// seqd's own configuration, as the Deployment starts it.

interface SeqdPod {
  readonly deployment: Workload;
  readonly pod: PodSpec;
  readonly container: Container;
  readonly env: Labels;
  readonly flag: (name: string) => string | undefined;
  readonly config: () => SeqdConfig;
}

/** The image's runtime stage (the last FROM of the Containerfile): its ENV, USER and ENTRYPOINT. */
function image(): { env: Labels; user: string; entrypoint: string } {
  const stage = readFileSync(join(REPO, 'Containerfile'), 'utf8').replace(/\\\n/g, ' ').split(/^FROM /m).pop() ?? '';
  const env: Labels = {};
  for (const m of stage.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const kv of (m[1] ?? '').trim().split(/\s+/)) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  }
  return { env, user: /^USER\s+(\S+)/m.exec(stage)?.[1] ?? '', entrypoint: /^ENTRYPOINT\s+(.+)$/m.exec(stage)?.[1] ?? '' };
}

/** Keys for the placeholders of base/secrets.yaml, as an operator would put them there. */
const TEST_KEYS: Labels = {
  'seqd-api-keys/api-keys': 'billing:allocate:billing-0123456789abcdef,peers:internal:peers-0123456789abcdef',
  'seqd-api-keys/forward-key': 'peers-0123456789abcdef',
};

function seqdPod(objects: Obj[], secretValues: Labels = TEST_KEYS): SeqdPod {
  const deployment = find<Workload>(objects, 'Deployment', 'seqd');
  const container = deployment?.spec.template.spec.containers.find((c) => c.name === 'seqd');
  assert.ok(deployment && container, 'Deployment seqd with a container seqd');
  const pod = deployment.spec.template.spec;
  // The image's ENV (SEQ_PROFILE=container, SEQ_DATA_DIR, …) is there too, under the pod's.
  const env = { ...image().env, ...containerEnv(objects, container, 'seqd-7d4b9c6f5-x2x4z', secretValues) };
  const args = container.args ?? [];
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const config = () => {
    const path = flag('--config');
    assert.ok(path, 'seqd is started with --config');
    const content = fileInPod(objects, pod, container, path);
    assert.ok(content !== undefined, `${path} is mounted from a ConfigMap key`);
    const dir = mkdtempSync(join(tmpdir(), 'seqd-k8s-'));
    try {
      writeFileSync(join(dir, 'seqd.yml'), content);
      return loadConfig({ profile: flag('--profile'), configFile: join(dir, 'seqd.yml'), env }).config;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return { deployment, pod, container, env, flag, config };
}

const portNumber = (url: string) => Number(new URL(url).port || (new URL(url).protocol === 'https:' ? 443 : 80));

/** Ports, probes, scraping, files and etcd endpoints of the Deployment against seqd's config. */
function seqdProblems(objects: Obj[]): string[] {
  const problems: string[] = [];
  const s = seqdPod(objects);
  const config = s.config();
  const server = config.server;
  const c = s.container;
  const scheme = server.tls ? 'HTTPS' : 'HTTP';
  const internalPort = server['internal-port'];
  if (internalPort === undefined) problems.push('seqd.yml: no server.internal-port (the forward route would share the API port)');
  for (const [kind, probe, path] of [['startup', c.startupProbe, '/health'], ['readiness', c.readinessProbe, '/ready'], ['liveness', c.livenessProbe, '/health']] as const) {
    const get = probe?.httpGet;
    if (!get) problems.push(`seqd has no ${kind} probe`);
    else {
      if (get.path !== path) problems.push(`seqd ${kind} probe asks ${get.path}, not ${path}`);
      if (containerPort([c], get.port) !== server.port) problems.push(`seqd ${kind} probe port ${get.port} is not server.port ${server.port}`);
      if ((get.scheme ?? 'HTTP') !== scheme) problems.push(`seqd ${kind} probe uses ${get.scheme ?? 'HTTP'}, seqd serves ${scheme}`);
    }
  }
  const annotations = s.deployment.spec.template.metadata.annotations ?? {};
  if (annotations['prometheus.io/scrape'] !== 'true') problems.push('seqd pods are not marked for scraping');
  if (annotations['prometheus.io/port'] !== String(server.port)) problems.push(`prometheus.io/port ${annotations['prometheus.io/port']} is not server.port ${server.port}`);
  if (annotations['prometheus.io/path'] !== '/metrics') problems.push(`prometheus.io/path ${annotations['prometheus.io/path']} is not /metrics`);
  if (annotations['prometheus.io/scheme'] !== scheme.toLowerCase()) problems.push(`prometheus.io/scheme ${annotations['prometheus.io/scheme']} is not ${scheme.toLowerCase()}`);
  const service = find<ServiceObj>(objects, 'Service', 'seqd');
  const targets = service?.spec.ports.map((p) => containerPort([c], p.targetPort ?? p.port)) ?? [];
  if (targets.length !== 1 || targets[0] !== server.port) problems.push(`Service seqd targets ${targets.join(', ')}, not only server.port ${server.port}`);
  // Clients (no `from`) get the API port alone; the internal port only from seqd pods.
  const policy = ofKind<NetPolObj>(objects, 'NetworkPolicy').find((np) => selects(np.spec.podSelector.matchLabels, s.deployment.spec.template.metadata.labels));
  if (!policy?.spec.policyTypes?.includes('Ingress')) problems.push('no NetworkPolicy restricts ingress to seqd pods');
  for (const rule of policy?.spec.ingress ?? []) {
    const ports = (rule.ports ?? []).map((p) => containerPort([c], p.port));
    const fromSeqdOnly = (rule.from ?? []).length > 0 && (rule.from ?? []).every((f) => podsSelectedBy(objects, f.podSelector?.matchLabels).every((w) => w === s.deployment));
    if (ports.length === 0) problems.push(`NetworkPolicy ${policy?.metadata.name}: a rule opens every port`);
    if (!fromSeqdOnly && ports.some((p) => p !== server.port)) problems.push(`NetworkPolicy ${policy?.metadata.name}: ports ${ports.join(', ')} are open beyond seqd pods`);
    if (fromSeqdOnly && ports.some((p) => p !== internalPort)) problems.push(`NetworkPolicy ${policy?.metadata.name}: the seqd-only rule opens ${ports.join(', ')}, not the internal port`);
  }
  const advertise = server['advertise-url'];
  if (!advertise || new URL(advertise).hostname !== POD_IP || portNumber(advertise) !== internalPort || new URL(advertise).protocol !== `${scheme.toLowerCase()}:`) {
    problems.push(`advertise-url ${advertise} is not ${scheme.toLowerCase()}://<pod IP>:${internalPort}`);
  }
  const declared = (c.ports ?? []).map((p) => p.containerPort).sort();
  const served = [server.port, internalPort].sort();
  if (JSON.stringify(declared) !== JSON.stringify(served)) problems.push(`container ports ${declared.join(', ')} are not the ports seqd serves (${served.join(', ')})`);
  // Every file the configuration names is there, from a ConfigMap or Secret key.
  const etcd = config.sequence.etcd;
  const files = [server.tls?.cert, server.tls?.key, server.tls?.ca, etcd.tls?.ca, etcd.tls?.cert, etcd.tls?.key].filter((f): f is string => f !== undefined);
  for (const f of files) if (fileInPod(objects, s.pod, c, f) === undefined) problems.push(`${f} (named in seqd.yml) is not mounted`);
  const writable = (path: string) => {
    const m = (c.volumeMounts ?? []).find((x) => x.mountPath === path && !x.readOnly);
    return !!m && !!s.pod.volumes?.find((v) => v.name === m.name && v.emptyDir);
  };
  if (!writable(config.sequence['data-dir'])) problems.push(`data-dir ${config.sequence['data-dir']} is not a writable emptyDir`);
  if (!writable('/tmp')) problems.push('/tmp is not a writable emptyDir');
  if (config.sequence.storage !== 'etcd' || etcd.embedded) problems.push('seqd does not use an external etcd');
  // The endpoints name every etcd member by its stable name, or (external) use TLS.
  const sts = ofKind<Workload>(objects, 'StatefulSet').find((w) => w.metadata.name === 'etcd');
  if (sts) {
    const clientPort = containerPort(sts.spec.template.spec.containers, 'client');
    const want = Array.from({ length: sts.spec.replicas ?? 1 }, (_, i) => `http://${sts.metadata.name}-${i}.${sts.spec.serviceName}:${clientPort}`);
    if (JSON.stringify(etcd.endpoints) !== JSON.stringify(want)) problems.push(`etcd endpoints ${etcd.endpoints.join(',')} are not every member: ${want.join(',')}`);
  } else {
    if (etcd.endpoints.length === 0 || etcd.endpoints.some((e) => !e.startsWith('https://'))) problems.push(`external etcd endpoints ${etcd.endpoints.join(',')} are not all https`);
    if (!etcd.tls?.ca || !etcd.tls.cert || !etcd.tls.key) problems.push('external etcd without a CA and client certificate');
  }
  // Shutdown: preStop, then SIGTERM, after which seqd answers 503 for the delay and stops
  // within its 30 s limit. The kubelet kills it at terminationGracePeriodSeconds.
  const sleep = c.lifecycle?.preStop?.exec?.command;
  const sleepMs = sleep?.[0] === '/bin/sleep' ? Number(sleep[1]) * 1000 : NaN;
  const graceMs = (s.pod.terminationGracePeriodSeconds ?? 30) * 1000;
  if (sleepMs !== server['shutdown-delay-ms']) problems.push(`preStop ${sleep?.join(' ')} does not match shutdown-delay-ms ${server['shutdown-delay-ms']}`);
  if (!(graceMs >= sleepMs + server['shutdown-delay-ms'] + SHUTDOWN_LIMIT_MS + 5000)) {
    problems.push(`terminationGracePeriodSeconds ${graceMs / 1000} does not cover preStop ${sleepMs / 1000} s + delay ${server['shutdown-delay-ms'] / 1000} s + the ${SHUTDOWN_LIMIT_MS / 1000} s limit + 5 s`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Hardening, availability and the bundled etcd.

const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function hardeningProblems(objects: Obj[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.spec.template.spec;
    const account = find<Obj & { automountServiceAccountToken?: boolean }>(objects, 'ServiceAccount', pod.serviceAccountName ?? '');
    if (pod.automountServiceAccountToken !== false && account?.automountServiceAccountToken !== false) problems.push(`${id(w)}: an API token is mounted`);
    // Service links put ETCD_PORT=tcp://… into the environment, which etcd reads as a flag.
    if (pod.enableServiceLinks !== false) problems.push(`${id(w)}: enableServiceLinks is not false`);
    if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${id(w)}: runAsNonRoot is not set`);
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${id(w)}: no RuntimeDefault seccomp profile`);
    if ((w.spec.replicas ?? 1) < 2) problems.push(`${id(w)}: fewer than 2 replicas`);
    const spread = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (!spread.some((t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname')) problems.push(`${id(w)}: no anti-affinity across nodes`);
    const budgets = ofKind<PdbObj>(objects, 'PodDisruptionBudget').filter((b) => selects(b.spec.selector.matchLabels, w.spec.template.metadata.labels));
    if (budgets.length !== 1 || budgets[0]?.spec.maxUnavailable !== 1) problems.push(`${id(w)}: not one PodDisruptionBudget with maxUnavailable 1`);
    for (const c of pod.containers) {
      const sc = c.securityContext;
      if (sc?.allowPrivilegeEscalation !== false) problems.push(`${id(w)} ${c.name}: privilege escalation allowed`);
      if (sc?.readOnlyRootFilesystem !== true) problems.push(`${id(w)} ${c.name}: writable root file system`);
      if (!sc?.capabilities?.drop?.includes('ALL')) problems.push(`${id(w)} ${c.name}: capabilities not dropped`);
      if (!c.resources?.requests?.cpu || !c.resources.requests.memory || !c.resources.limits?.memory) problems.push(`${id(w)} ${c.name}: no cpu and memory requests and memory limit`);
      if (!c.startupProbe || !c.readinessProbe || !c.livenessProbe) problems.push(`${id(w)} ${c.name}: not all of startup, readiness and liveness probes`);
      // A pinned tag, and no registry: that part is the user's (kustomize images:).
      const first = c.image.includes('/') ? (c.image.split('/')[0] ?? '') : '';
      if (!IMAGE.test(c.image) || c.image.endsWith(':latest') || /[.:]/.test(first) || first === 'localhost') problems.push(`${id(w)} ${c.name}: image ${c.image} is not name:tag without a registry`);
    }
  }
  return problems;
}

function etcdFlags(sts: Workload): Map<string, string> {
  const args = sts.spec.template.spec.containers[0]?.args ?? [];
  return new Map(args.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
}

/** The bundled etcd: stable peer names in --initial-cluster, ports, volume, its network policy. */
function etcdProblems(objects: Obj[]): string[] {
  const problems: string[] = [];
  const sts = find<Workload>(objects, 'StatefulSet', 'etcd');
  const c = sts?.spec.template.spec.containers[0];
  if (!sts || !c) return ['no StatefulSet etcd'];
  const flags = etcdFlags(sts);
  const svc = sts.spec.serviceName;
  const port = (url: string | undefined) => (url ? portNumber(url) : undefined);
  const [clientPort, peerPort, metricsPort] = ['client', 'peer', 'metrics'].map((n) => containerPort([c], n));
  if ((sts.spec.replicas ?? 1) !== 3) problems.push(`${sts.spec.replicas} etcd members, not 3`);
  if (sts.spec.podManagementPolicy !== 'Parallel') problems.push('members start one by one: etcd-0 alone never gets ready (no quorum)');
  if (c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') problems.push('POD_NAME is not the pod name');
  if (flags.get('--name') !== '$(POD_NAME)') problems.push(`--name ${flags.get('--name')} is not the pod name`);
  const members = Array.from({ length: sts.spec.replicas ?? 0 }, (_, i) => `${sts.metadata.name}-${i}=http://${sts.metadata.name}-${i}.${svc}:${peerPort}`);
  if (flags.get('--initial-cluster') !== members.join(',')) problems.push(`--initial-cluster ${flags.get('--initial-cluster')} is not ${members.join(',')}`);
  if (flags.get('--initial-advertise-peer-urls') !== `http://$(POD_NAME).${svc}:${peerPort}`) problems.push(`--initial-advertise-peer-urls ${flags.get('--initial-advertise-peer-urls')} is not this member's entry`);
  if (flags.get('--advertise-client-urls') !== `http://$(POD_NAME).${svc}:${clientPort}`) problems.push(`--advertise-client-urls ${flags.get('--advertise-client-urls')} is not this member's name`);
  if (port(flags.get('--listen-client-urls')) !== clientPort || port(flags.get('--listen-peer-urls')) !== peerPort || port(flags.get('--listen-metrics-urls')) !== metricsPort) {
    problems.push('the listen URLs are not the container ports client, peer and metrics');
  }
  const service = find<ServiceObj>(objects, 'Service', svc ?? '');
  const servicePorts = (service?.spec.ports ?? []).map((p) => `${p.port}>${containerPort([c], p.targetPort ?? p.port)}`).sort();
  if (JSON.stringify(servicePorts) !== JSON.stringify([`${clientPort}>${clientPort}`, `${peerPort}>${peerPort}`])) problems.push(`Service ${svc} ports ${servicePorts.join(', ')} are not the client and peer ports`);
  for (const [kind, probe] of [['startup', c.startupProbe], ['readiness', c.readinessProbe], ['liveness', c.livenessProbe]] as const) {
    if (!probe?.httpGet?.path.startsWith('/health') || containerPort([c], probe.httpGet.port) !== metricsPort) problems.push(`etcd ${kind} probe is not /health on the metrics port`);
  }
  const dataDir = flags.get('--data-dir') ?? '';
  const mount = c.volumeMounts?.find((m) => dataDir.startsWith(`${m.mountPath}/`));
  const claim = sts.spec.volumeClaimTemplates?.find((t) => t.metadata.name === mount?.name);
  if (!claim) problems.push(`--data-dir ${dataDir} is not on a volume claim`);
  const gi = Number(/^(\d+)Gi$/.exec(claim?.spec.resources.requests.storage ?? '')?.[1] ?? 0);
  if (gi * 2 ** 30 < 2 * Number(flags.get('--quota-backend-bytes') ?? 2 ** 31)) problems.push(`the volume (${gi} Gi) is not twice the --quota-backend-bytes`);
  const annotations = sts.spec.template.metadata.annotations ?? {};
  if (annotations['prometheus.io/port'] !== String(metricsPort) || annotations['prometheus.io/path'] !== '/metrics') problems.push('etcd scrape annotations do not name the metrics port');
  // The client port only from seqd, the peer port only between members.
  const policy = ofKind<NetPolObj>(objects, 'NetworkPolicy').find((np) => selects(np.spec.podSelector.matchLabels, sts.spec.template.metadata.labels));
  const seqd = find<Workload>(objects, 'Deployment', 'seqd');
  const allowed = new Map([[clientPort, seqd], [peerPort, sts]]);
  for (const rule of policy?.spec.ingress ?? []) {
    for (const p of (rule.ports ?? []).map((x) => containerPort([c], x.port))) {
      const only = allowed.get(p);
      if (!only) continue;
      const from = (rule.from ?? []).flatMap((f) => podsSelectedBy(objects, f.podSelector?.matchLabels));
      if (from.length === 0 || from.some((w) => w !== only)) problems.push(`NetworkPolicy ${policy?.metadata.name}: port ${p} is open to more than ${only ? id(only) : '?'}`);
    }
  }
  if (!policy) problems.push('no NetworkPolicy for the etcd pods');
  return problems;
}

// ---------------------------------------------------------------------------------------------

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('every manifest is part of a kustomization, and the top one is the bundled-etcd variant', () => {
    const orphans = filesUnder(ROOT).filter((f) => !usedFiles.has(f) && basename(f) !== 'README.md');
    assert.deepEqual(orphans.map(rel), []);
    assert.deepEqual(rendered('default'), rendered('bundled-etcd'));
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 }).status === 0;
  it('renders as kubectl kustomize does', { skip: kubectl ? false : 'kubectl is not installed (the renderer is then unchecked)' }, () => {
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
    const sorted = (objects: Obj[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)));
    for (const [variant, dir] of Object.entries(VARIANTS) as [Variant, string][]) {
      const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr);
      const theirs = parseAllDocuments(run.stdout).map((d) => d.toJS() as Obj);
      assert.deepEqual(sorted(rendered(variant)), sorted(theirs), variant);
    }
  });

  it('every object is valid against the Kubernetes API schemas, with no unknown field', async () => {
    const all = [...rendered('bundled-etcd'), ...rendered('external-etcd')];
    assert.deepEqual(await schemaProblems(all), []);
    // Broken copies: a wrong type fails the JSON schema; a misspelt field passes it, and only
    // the declared types catch it.
    const deployment = find<Workload>(all, 'Deployment', 'seqd') as Workload;
    const wrongType = clone(deployment);
    (wrongType.spec as { replicas: unknown }).replicas = 'two';
    assert.match((await schemaProblems([wrongType])).join('\n'), /Deployment\/seqd: .*replicas must be integer/);
    const misspelt = clone(deployment);
    misspelt.metadata.name = 'misspelt';
    const container = misspelt.spec.template.spec.containers[0] as Container & { readinessprobe?: Probe };
    container.readinessprobe = container.readinessProbe;
    delete container.readinessProbe;
    assert.deepEqual(await schemaProblems([misspelt]), []);
    const unknown = unknownFieldProblems([...all, misspelt]);
    assert.deepEqual(unknown.filter((p) => !p.startsWith('Deployment/misspelt: ')), []);
    assert.match(unknown.join('\n'), /Deployment\/misspelt: .*'"?readinessprobe"?' does not exist/);
  });

  for (const variant of ['bundled-etcd', 'external-etcd'] as const) {
    it(`${variant}: selectors, ports, volumes, ConfigMaps and Secrets refer to what exists`, () => {
      assert.deepEqual(referenceProblems(rendered(variant)), []);
    });

    it(`${variant}: seqd.yml is valid with the pods' environment, and ports, probes, scraping, files and etcd endpoints agree with it`, () => {
      assert.deepEqual(seqdProblems(rendered(variant)), []);
      // The shipped placeholders stop seqd: an unedited Secret never runs an open instance.
      assert.throws(() => seqdPod(rendered(variant), {}).config(), (e: unknown) => e instanceof ConfigError && /SEQD_API_KEYS/.test(e.message));
    });

    it(`${variant}: pods are hardened, spread, budgeted and probed`, () => {
      assert.deepEqual(hardeningProblems(rendered(variant)), []);
      const s = seqdPod(rendered(variant));
      assert.equal(s.pod.securityContext?.runAsUser, 10001, 'the image user seqd');
      const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
      assert.equal(s.container.image, `seqd:${version}`);
    });
  }

  it('the checks catch broken references (broken copies)', () => {
    const cases: [string, (o: Obj[]) => void, (o: Obj[]) => string[], RegExp][] = [
      ['a Service selector typo', (o) => ((find<ServiceObj>(o, 'Service', 'seqd') as ServiceObj).spec.selector = { 'app.kubernetes.io/name': 'seqdd' }), referenceProblems, /Service\/seqd: its selector selects the pods of 0/],
      ['a missing Secret key', (o) => delete (find(o, 'Secret', 'seqd-api-keys') as Obj).stringData?.['forward-key'], referenceProblems, /SEQD_FORWARD_KEY names Secret\/seqd-api-keys key forward-key/],
      ['a renamed ConfigMap', (o) => ((find(o, 'ConfigMap', 'seqd-config') as Obj).metadata.name = 'seqd-conf'), referenceProblems, /volume config file seqd\.yml: no ConfigMap\/seqd-config key seqd\.yml/],
      ['an unmounted volume', (o) => seqdPod(o).container.volumeMounts?.pop(), referenceProblems, /volume tmp is mounted nowhere/],
      ['a probe on the internal port', (o) => ((seqdPod(o).container.readinessProbe as Probe).httpGet = { path: '/ready', port: 'internal', scheme: 'HTTPS' }), seqdProblems, /readiness probe port internal is not server.port 8443/],
      ['a probe of a route seqd lacks', (o) => ((seqdPod(o).container.livenessProbe as Probe).httpGet = { path: '/healthz', port: 'api', scheme: 'HTTPS' }), seqdProblems, /liveness probe asks \/healthz/],
      ['a short grace period', (o) => (seqdPod(o).pod.terminationGracePeriodSeconds = 30), seqdProblems, /terminationGracePeriodSeconds 30 does not cover/],
      ['an open internal port', (o) => delete (find<NetPolObj>(o, 'NetworkPolicy', 'seqd') as NetPolObj).spec.ingress?.[1]?.from, seqdProblems, /ports 8081 are open beyond seqd pods/],
      ['a missing etcd member', (o) => ((find<Workload>(o, 'StatefulSet', 'etcd') as Workload).spec.replicas = 4), etcdProblems, /--initial-cluster .* is not .*etcd-3=/],
      ['etcd clients from anywhere', (o) => delete (find<NetPolObj>(o, 'NetworkPolicy', 'etcd') as NetPolObj).spec.ingress?.[0]?.from, etcdProblems, /port 2379 is open to more than Deployment\/seqd/],
      ['a root container', (o) => delete seqdPod(o).container.securityContext?.readOnlyRootFilesystem, hardeningProblems, /seqd: writable root file system/],
    ];
    for (const [what, breakIt, check, expected] of cases) {
      const objects = rendered('bundled-etcd');
      breakIt(objects);
      assert.match(check(objects).join('\n'), expected, what);
    }
  });

  it('bundled-etcd: 3 members with stable peer names behind a headless Service, a PDB and their own network policy', () => {
    assert.deepEqual(etcdProblems(rendered('bundled-etcd')), []);
  });

  const etcd = spawnSync('etcd', ['--help'], { encoding: 'utf8' });
  it('bundled-etcd: etcd knows every flag the StatefulSet passes', { skip: etcd.status === 0 ? false : 'etcd is not installed (Debian package etcd-server)' }, () => {
    const known = new Set((etcd.stdout + etcd.stderr).match(/--[a-z0-9-]+/g));
    const sts = find<Workload>(rendered('bundled-etcd'), 'StatefulSet', 'etcd') as Workload;
    assert.deepEqual([...etcdFlags(sts).keys()].filter((f) => !known.has(f)), []);
  });

  it('external-etcd: its seqd.yml is the base one plus the etcd client certificate', () => {
    const base = parse(readFileSync(join(ROOT, 'base/seqd.yml'), 'utf8')) as { sequence: { etcd: Record<string, unknown> } };
    const external = parse(readFileSync(join(ROOT, 'overlays/external-etcd/seqd.yml'), 'utf8')) as typeof base;
    assert.deepEqual(Object.keys(external.sequence.etcd.tls as object), ['ca', 'cert', 'key']);
    delete external.sequence.etcd.tls;
    assert.deepEqual(external, base);
  });

  it('the image (Containerfile) runs seqd as the user the pod expects, and serve takes the arguments', () => {
    const { container, pod } = seqdPod(rendered('bundled-etcd'));
    const { user, entrypoint } = image();
    assert.equal(user, `${pod.securityContext?.runAsUser}:${pod.securityContext?.runAsGroup}`);
    assert.match(entrypoint, /"node", "\/app\/dist\/cli\.js"\]$/, 'the arguments go to the seqd command line');
    assert.equal(container.args?.[0], 'serve');
    const help = spawnSync(process.execPath, [...seqdCommand(), 'serve', '--help'], { cwd: REPO, encoding: 'utf8' }).stdout;
    for (const flag of (container.args ?? []).filter((a) => a.startsWith('--'))) assert.ok(help.includes(flag), `serve has no ${flag}`);
  });

  describe('the probes and the scrape path', () => {
    let s: TestServer;
    before(async () => {
      s = await startTestServer();
    });
    after(() => s?.dispose());

    it('are routes a real seqd answers', async () => {
      const { deployment, container } = seqdPod(rendered('bundled-etcd'));
      const paths = [container.startupProbe, container.readinessProbe, container.livenessProbe].map((p) => p?.httpGet?.path ?? '(none)');
      paths.push(deployment.spec.template.metadata.annotations?.['prometheus.io/path'] ?? '(none)');
      for (const path of new Set(paths)) assert.equal((await fetch(`${s.url}${path}`)).status, 200, path);
    });
  });
});
