// `npm run method -- <name> [--key=value …]`: runs one research method and writes its report.
// Methods register in methods/registry.ts as they land (one folder each, see DESIGN.md §9).
import { METHODS } from './registry.js';

const [name] = process.argv.slice(2);
const names = Object.keys(METHODS);
if (!name || !(name in METHODS)) {
  console.error(name ? `method: unknown method "${name}".` : 'usage: npm run method -- <name> [--key=value …]');
  console.error(names.length ? `available: ${names.join(', ')}` : 'No method has landed yet; see the issues for the ten planned ones.');
  process.exit(2);
}
