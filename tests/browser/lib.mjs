// lib.mjs - what scenario.mjs and hostile.mjs share: the config written
// by driver.py, Debian's Chromium through playwright-core, named steps with
// a screenshot each, an LMTP delivery, and the closing "N passed, N
// failed" line.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    headless: true,
    // no GPU on the test machines; the sandbox needs user namespaces,
    // which a root CI container may not give
    // and no network but loopback: nothing of Chromium's own calls home
    args: ['--disable-gpu', '--no-first-run', '--disable-dev-shm-usage',
      '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    chromiumSandbox: false,
  });
}

// Steps run in order; the first failure skips the rest (they build on
// one another) and every step leaves a screenshot.
export class Steps {
  constructor(prefix) {
    this.prefix = prefix;
    this.results = [];
    this.n = 0;
    this.page = null;
    this.stopped = false;
  }

  async step(name, fn, { keepGoing = false } = {}) {
    if (this.stopped) {
      this.results.push({ name, status: 'skipped' });
      console.log(`  skip  ${name}`);
      return;
    }
    const t0 = Date.now();
    this.n++;
    const shot = path.join(conf.artifacts,
      `${this.prefix}-${String(this.n).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    try {
      await fn();
      this.results.push({ name, status: 'passed' });
      console.log(`  ok    ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      this.results.push({ name, status: 'failed', error: String(e && e.stack || e) });
      console.log(`  FAIL  ${name}: ${e && e.message || e}`);
      if (!keepGoing) this.stopped = true;
    }
    if (this.page && !this.page.isClosed()) {
      await this.page.screenshot({ path: shot, fullPage: false }).catch(() => {});
    }
  }

  finish() {
    const count = (s) => this.results.filter((r) => r.status === s).length;
    fs.writeFileSync(path.join(conf.artifacts, `${this.prefix}-results.json`),
      JSON.stringify(this.results, null, 1));
    const failed = count('failed') + count('skipped');
    console.log(`${this.prefix}: ${count('passed')} passed, ${failed} failed`);
    return failed ? 1 : 0;
  }
}

export function assert(cond, what) {
  if (!cond) throw new Error('assertion failed: ' + what);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Retry fn until it returns truthy (or throw its last error) within ms.
export async function until(fn, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}` + (last ? ': ' + last.message : ''));
    await sleep(200);
  }
}

// Deliver one message over LMTP (the site's TCP listener).
export function deliver(rcpt, message) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(conf.lmtp_port, '127.0.0.1');
    const cmds = ['LHLO browser.test', 'MAIL FROM:<sender@outside.test>',
      `RCPT TO:<${rcpt}>`, 'DATA',
      message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..') + '\r\n.', 'QUIT'];
    let buf = '', i = -1;
    sock.setTimeout(15000, () => { sock.destroy(); reject(new Error('LMTP timeout')); });
    sock.on('data', (d) => {
      buf += d.toString();
      // a complete reply: its last line has a space after the code
      const lines = buf.split('\r\n');
      if (lines.length < 2 || !/^\d{3} /.test(lines[lines.length - 2])) return;
      const code = Number(lines[lines.length - 2].slice(0, 3));
      buf = '';
      if (code >= 400) { sock.destroy(); reject(new Error('LMTP: ' + lines.join(' | '))); return; }
      i++;
      if (i < cmds.length) sock.write(cmds[i] + '\r\n');
      else { sock.end(); resolve(); }
    });
    sock.on('error', reject);
  });
}

export async function login(page, address, password) {
  await page.goto(conf.base + '/');
  await page.waitForSelector('#login-form:visible, #app:visible');
  if (await page.isVisible('#app')) return;
  await page.fill('#login-address', address);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#app:visible', { timeout: 15000 });
  await page.waitForSelector('#folder-list .folder');
  // The Inbox list loads after the folders: wait for it (rows, or the
  // "No messages." line), or a count taken now races the request
  // (seen in CI on 2 loaded cores: "got 0").
  await page.waitForSelector('#message-list li.msg, #list-empty:visible', { timeout: 15000 });
}

// The list item (li.msg) of the message with this subject.
export const row = (page, subject) =>
  page.locator('#message-list li.msg', { has: page.locator('.subject', { hasText: subject }) });

// Wait until the reading pane shows the message with this subject.
export async function shown(page, subject) {
  await page.waitForFunction((subj) => {
    const m = document.getElementById('message');
    return m && !m.hidden && document.getElementById('msg-subject').textContent === subj;
  }, subject, { timeout: 10000 });
}
