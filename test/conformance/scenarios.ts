/**
 * Which server scenarios of the suite the conformance run claims, each at the protocol revision it
 * runs at (a scenario of both revisions runs twice: the 2025 wire and the 2026-07-28 wire differ).
 * docs/conformance.md lists them, and why the unclaimed ones do not apply or are not done.
 */
/** `extension`: a tasks-extension scenario, run at the revision the suite gives it (2026-07-28). */
export type Run = readonly [scenario: string, specVersion: '2025-11-25' | '2026-07-28' | 'extension'];

const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
const EXTENSION = 'extension';

export const CLAIMED: readonly Run[] = [
  ['server-stateless', MODERN],
  ['tools-list', MODERN],
  ['tools-call-simple-text', MODERN],
  ['tools-call-image', MODERN],
  ['tools-call-audio', MODERN],
  ['tools-call-embedded-resource', MODERN],
  ['tools-call-mixed-content', MODERN],
  ['tools-call-error', MODERN],
  ['tools-call-with-progress', MODERN],
  ['server-sse-multiple-streams', MODERN],
  ['dns-rebinding-protection', MODERN],
  ['http-header-validation', MODERN],
  ['input-required-result-basic-elicitation', MODERN],
  ['input-required-result-basic-sampling', MODERN],
  ['input-required-result-basic-list-roots', MODERN],
  ['input-required-result-request-state', MODERN],
  ['input-required-result-multiple-input-requests', MODERN],
  ['input-required-result-multi-round', MODERN],
  ['input-required-result-missing-input-response', MODERN],
  ['input-required-result-result-type', MODERN],
  ['input-required-result-unsupported-methods', MODERN],
  ['input-required-result-tampered-state', MODERN],
  ['input-required-result-capability-check', MODERN],
  ['input-required-result-ignore-extra-params', MODERN],
  ['input-required-result-validate-input', MODERN],
  ['http-custom-header-server-validation', MODERN],
  ['json-schema-2020-12', MODERN],
  ['tasks-lifecycle', EXTENSION],
  ['tasks-capability-negotiation', EXTENSION],
  ['tasks-wire-fields', EXTENSION],
  ['tasks-request-state-removal', EXTENSION],
  ['tasks-request-headers', EXTENSION],
  ['tasks-status-notifications', EXTENSION],
  ['tasks-required-task-error', EXTENSION],
  ['tasks-mrtr-input', EXTENSION],
  ['tasks-mrtr-composition', EXTENSION],
  ['tasks-dispatch-and-envelope', EXTENSION],
  ['server-initialize', LEGACY],
  ['ping', LEGACY],
  ['tools-list', LEGACY],
  ['tools-call-simple-text', LEGACY],
  ['tools-call-image', LEGACY],
  ['tools-call-audio', LEGACY],
  ['tools-call-embedded-resource', LEGACY],
  ['tools-call-mixed-content', LEGACY],
  ['tools-call-error', LEGACY],
  ['tools-call-with-progress', LEGACY],
  ['server-sse-multiple-streams', LEGACY],
  ['dns-rebinding-protection', LEGACY],
  ['tools-call-sampling', LEGACY],
  ['tools-call-elicitation', LEGACY],
  ['elicitation-sep1034-defaults', LEGACY],
  ['elicitation-sep1330-enums', LEGACY],
  ['json-schema-2020-12', LEGACY],
];

/** Server scenarios run only with `--all` (reported, never failing the run). */
export const UNCLAIMED: readonly Run[] = [
  ['input-required-result-non-tool-request', MODERN],
  ['caching', MODERN],
  ['completion-complete', MODERN],
  ['server-session-lifecycle', LEGACY],
  ['logging-set-level', LEGACY],
  ['tools-call-with-logging', LEGACY],
  ['server-sse-polling', LEGACY],
];
