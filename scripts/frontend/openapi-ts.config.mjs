// The TypeScript client a frontend would generate from our document (the generator the
// full-stack-fastapi-template uses). The input is the document the API serves; run by client.mjs.
/** @type {import('@hey-api/openapi-ts').UserConfig} */
export default {
  input: process.env.OPENAPI_INPUT,
  output: { path: 'generated/client' },
  plugins: ['@hey-api/typescript', '@hey-api/sdk', '@hey-api/client-fetch'],
};
