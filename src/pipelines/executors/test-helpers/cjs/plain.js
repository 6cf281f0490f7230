// A CommonJS JavaScript component.
const { writeFileSync } = require('node:fs');

module.exports.run = async function run(ctx) {
  writeFileSync(ctx.outputs.out.path, 'javascript, commonjs');
};
