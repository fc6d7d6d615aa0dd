// Code blocks in model output: highlighted by highlight.js (its core and a few
// common languages, bundled: nothing is fetched) and given a copy button. Runs on
// the DOM that markdown.js has already sanitised: each <pre><code>'s text is
// highlighted by hljs, which escapes it and adds only <span class="hljs-…">
// (classes styled by app.css: no inline styles, so the CSP's style-src 'self'
// holds).
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import csharp from 'highlight.js/lib/languages/csharp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import kotlin from 'highlight.js/lib/languages/kotlin';
import markdown from 'highlight.js/lib/languages/markdown';
import php from 'highlight.js/lib/languages/php';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import ruby from 'highlight.js/lib/languages/ruby';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import swift from 'highlight.js/lib/languages/swift';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { h } from './dom.js';
import { copyButton } from './ui.js';

const LANGUAGES = {
  bash, c, cpp, csharp, css, diff, go, java, javascript, json, kotlin, markdown, php, plaintext, python, ruby,
  rust, shell, sql, swift, typescript, xml, yaml,
};
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);
hljs.configure({ ignoreUnescapedHTML: true });

/** Longer blocks are left plain: highlighting them on every streamed delta would cost too much. */
const MAX_HIGHLIGHT_CHARS = 50_000;

/**
 * Highlights each `pre > code` of `root` (the language of the i-th block is
 * `langs[i]`, from its fence: ```rust; guessed among the bundled ones when none
 * or unknown) and puts a copy button on it.
 */
export function enhanceCode(root, langs = []) {
  root.querySelectorAll('pre > code').forEach((code, i) => {
    const text = code.textContent;
    const want = (langs[i] || '').trim().toLowerCase().split(/\s+/)[0];
    if (text.length <= MAX_HIGHLIGHT_CHARS) {
      try {
        const result = want && hljs.getLanguage(want)
          ? hljs.highlight(text, { language: want, ignoreIllegals: true })
          : hljs.highlightAuto(text);
        // hljs escapes the text it is given and adds only <span class="hljs-…">.
        code.innerHTML = result.value;
        code.classList.add('hljs');
        if (result.language) code.dataset.language = result.language;
      } catch { /* left plain */ }
    }
    const pre = code.parentElement;
    const label = want || code.dataset.language || 'code';
    const bar = h('div', { class: 'code-bar' }, h('span', { class: 'code-lang' }, label),
      // The code as written (marked ends a block's text with a newline).
      copyButton(() => text.replace(/\n$/, ''), 'Copy code'));
    const wrap = h('div', { class: 'code-block' });
    pre.replaceWith(wrap);
    wrap.append(bar, pre);
  });
}
