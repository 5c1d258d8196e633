// Shared by the tests that run README code blocks as written: find the
// fenced block after a `<!-- readme-test: … -->` marker, and replace its
// documented placeholders (each must be there, so a README edit that drops
// one fails the test instead of running something else).
import assert from 'node:assert/strict';

/**
 * The code of the first fenced block of language `lang` after `marker` in
 * `markdown` (`name` names the file in failures), ending with a newline.
 */
export function blockAfter(markdown, marker, { lang = 'js', name = 'README.md' } = {}) {
  const at = markdown.indexOf(marker);
  assert.ok(at >= 0, `${name} has no ${marker}`);
  const open = '```' + lang + '\n';
  const fence = markdown.indexOf(open, at);
  const end = fence < 0 ? -1 : markdown.indexOf('\n```', fence + open.length);
  assert.ok(fence >= 0 && end > fence, `no ${lang} block after ${marker} in ${name}`);
  // Nothing but blank lines and comments between the marker and its block.
  const between = markdown.slice(at + marker.length, fence).trim();
  assert.ok(between === '' || /^(<!--[^]*?-->\s*)*$/.test(between), `text between ${marker} and its block in ${name}`);
  return markdown.slice(fence + open.length, end + 1);
}

/**
 * `code` with every occurrence of each key of `replacements` replaced by
 * its value; fails when a key does not occur.
 */
export function substitute(code, replacements) {
  for (const [placeholder, value] of Object.entries(replacements)) {
    assert.ok(code.includes(placeholder), `the block has no ${placeholder}:\n${code}`);
    code = code.replaceAll(placeholder, () => value); // no `$&` patterns
  }
  return code;
}
