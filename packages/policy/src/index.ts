export { decideToolCall, type Decision, type DenyCode, type PolicyCredential, type PolicyTool, type ToolCallQuestion } from './decide.js';
export { missingScopes, scopeGranted, SCOPE_IMPLICATIONS } from './scope-implication.js';
