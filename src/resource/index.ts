// `latchkey/resource`, kept for APIs written against it: the checker is the `@latchkey/resource`
// package (packages/resource), re-exported whole.
export * from '@latchkey/resource';
