// hostile.mjs - open every message of tests/browser/hostile/ in the
// webmail (real daemon, headless Chromium) and check in the browser that
// no content of a message ran script or reached out:
//   - every payload tries window.top.__pwned++, top.document.title =
//     'pwned', alert() and fetch() of a canary URL on loopback;
//   - a dialog of any kind fails the test (page.on('dialog'));
//   - __pwned must stay unset in the app and in the message frame, the
//     title must not change, the canary (an HTTP listener here) must get
//     no request, and no request may leave the webmail's origin;
//   - the sanitised document must hold no script, no on* attribute, no
//     javascript:/data: link, no frame, object, embed, base or meta;
//   - form buttons in the frame are clicked: nothing may be submitted;
//   - attachments are served as attachments (nosniff), "show original"
//     as text/plain.
import http from 'node:http';
import { conf, launch, Steps, assert, sleep, login, row } from './lib.mjs';

const origin = new URL(conf.base).origin;
const canaryHits = [];
const canary = http.createServer((req, res) => {
  canaryHits.push(req.method + ' ' + req.url);
  res.writeHead(204);
  res.end();
});
await new Promise((r) => canary.listen(conf.canary_port, '127.0.0.1', r));

const steps = new Steps('hostile');
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
const leaks = [];
const dialogs = [];
// Every request that leaves the webmail's origin is recorded and stopped.
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith(origin + '/') || url === origin) return route.continue();
  leaks.push(url);
  return route.abort();
});
context.on('page', (p) => {
  p.on('dialog', async (d) => { dialogs.push(p.url() + ': ' + d.type() + ' ' + d.message()); await d.dismiss(); });
});
const page = await context.newPage();
steps.page = page;

// The state that a payload would change, read from the app page.
async function probe() {
  return page.evaluate(() => {
    const out = { top: window.__pwned, title: document.title, frame: null, bad: [] };
    out.scripts = document.querySelectorAll('script').length;
    out.url = location.href;
    const f = document.getElementById('msg-html');
    if (f && !f.hidden) {
      let doc, win;
      try { doc = f.contentDocument; win = f.contentWindow; } catch (e) { out.bad.push('frame not readable'); }
      if (doc) {
        out.frame = win.__pwned;
        out.frameUrl = doc.location.href;
        out.frameText = doc.body ? doc.body.textContent : '';
        out.frameTitle = doc.title;
        for (const el of doc.querySelectorAll('*')) {
          const tag = el.localName;
          if (['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet',
            'portal', 'link'].includes(tag)) out.bad.push('element ' + tag);
          // the sanitiser's own <meta charset> and <base target> are fine
          if (tag === 'meta' && (el.hasAttribute('http-equiv') || el.hasAttribute('content')))
            out.bad.push('meta ' + el.getAttribute('http-equiv'));
          if (tag === 'base' && el.hasAttribute('href')) out.bad.push('base href');
          for (const a of el.attributes) {
            const n = a.name.toLowerCase();
            const v = a.value.replace(/[\u0000-\u0020]/g, '').toLowerCase();
            if (n.startsWith('on')) out.bad.push(`${tag} ${n}=`);
            if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'srcdoc', 'to', 'values']
              .includes(n) && (v.startsWith('javascript:') || v.startsWith('vbscript:') ||
                v.startsWith('data:text') || v.startsWith('data:application'))) out.bad.push(`${tag} ${n}=${v.slice(0, 40)}`);
            if (n === 'srcdoc') out.bad.push(`${tag} srcdoc`);
          }
        }
      }
    }
    return out;
  });
}

// Each check takes (and clears) what happened since the last one, so a
// failure is reported by the step that caused it.
async function checkClean(p) {
  const d = dialogs.splice(0), c = canaryHits.splice(0), l = leaks.splice(0);
  await page.evaluate(() => { delete window.__pwned; }).catch(() => {});
  assert(p.top === undefined, 'window.__pwned set in the app: ' + p.top);
  assert(!/pwned/.test(p.title), 'app title changed: ' + p.title);
  assert(p.frame === undefined || p.frame === null, 'window.__pwned set in the frame');
  assert(p.scripts === 1, 'script elements in the app page: ' + p.scripts);
  assert(p.url.startsWith(conf.base), 'the app navigated away: ' + p.url);
  if (p.frameUrl) assert(p.frameUrl.includes('/html'), 'the frame navigated: ' + p.frameUrl);
  assert(p.bad.length === 0, 'sanitised HTML still has: ' + p.bad.join('; '));
  assert(d.length === 0, 'dialog opened: ' + d.join('; '));
  assert(c.length === 0, 'canary reached: ' + c.join('; '));
  assert(l.length === 0, 'request left the origin: ' + l.join('; '));
}

await steps.step('log in as the hostile mailbox', async () => {
  await login(page, conf.bob, conf.password);
  // (the scenario's replies to bob may be there too)
  const n = await row(page, 'Hostile ').count();
  assert(n === conf.hostile.length, `all ${conf.hostile.length} hostile messages listed, got ${n}`);
});

for (const name of conf.hostile) {
  const nn = name.slice(0, 2);
  await steps.step('open ' + name.replace(/\.eml$/, ''), async () => {
    const r = row(page, 'Hostile ' + nn);
    assert((await r.count()) === 1, 'listed once');
    const msg = page.waitForResponse((res) => /\/messages\/\d+(\?|$)/.test(res.url()));
    await r.locator('button.open').click();
    await msg;
    await page.waitForSelector('#message:visible');
    if (await page.isVisible('#msg-html')) {
      await page.waitForFunction(() => {
        const f = document.getElementById('msg-html');
        try { return f.contentDocument && f.contentDocument.readyState === 'complete' && f.contentDocument.location.href.includes('/html'); } catch (e) { return false; }
      }, null, { timeout: 10000 });
      // a form button or submit in the frame: clicking must submit nothing
      const frame = page.frameLocator('#msg-html');
      const buttons = frame.locator('button, input[type=submit], input[type=image]');
      const nb = await buttons.count();
      for (let i = 0; i < nb; i++) {
        await buttons.nth(i).click({ timeout: 1500, force: true }).catch(() => {});
      }
      // hover and focus for handlers that need them
      await page.mouse.move(400, 500);
      await page.keyboard.press('Tab');
    }
    await sleep(800);        // timers, animations, refreshes
    const p = await probe();
    await checkClean(p);
    const shown = (p.frameText || '') + (await page.textContent('#msg-text'));
    assert(shown.includes(`HOSTILE-${nn}-BODY`), 'the message body is shown');
    if (nn === '08') {
      const subj = await page.textContent('#msg-subject');
      assert(subj.includes('<script>'), 'the encoded-word subject shown as text: ' + subj);
      assert((await page.textContent('#msg-from')).includes('<img'), 'the From name shown as text');
    }
    // the session is intact (no logout form went through)
    const s = await page.request.get(conf.base + '/api/session');
    assert(s.status() === 200, 'still logged in: ' + s.status());
  }, { keepGoing: true });
}

await steps.step('"show original" is text/plain for every message', async () => {
  const list = await (await page.request.get(conf.base + '/api/folders/INBOX/messages?limit=50')).json();
  const raw = await context.newPage();
  for (const it of list.items) {
    const url = `${conf.base}/api/folders/INBOX/messages/${it.uid}/raw`;
    await raw.goto(url);
    const ct = await raw.evaluate(() => document.contentType);
    assert(ct === 'text/plain', `raw of ${it.subject}: ${ct}`);
    assert((await raw.evaluate(() => window.__pwned)) === undefined, 'raw ran script');
  }
  await raw.close();
  await checkClean(await probe());
}, { keepGoing: true });

await steps.step('attachments are downloads, never pages', async () => {
  const list = await (await page.request.get(conf.base + '/api/folders/INBOX/messages?limit=50')).json();
  const it = list.items.find((x) => x.subject.startsWith('Hostile 12'));
  const m = await (await page.request.get(`${conf.base}/api/folders/INBOX/messages/${it.uid}?mark_seen=0`)).json();
  assert(m.attachments.length >= 3, 'three attachments, got ' + m.attachments.length);
  const other = await context.newPage();
  for (const a of m.attachments) {
    const url = `${conf.base}/api/folders/INBOX/messages/${it.uid}/parts/${encodeURIComponent(a.part)}`;
    const r = await page.request.get(url);
    const hd = r.headers();
    assert(r.status() === 200, `${a.filename}: ${r.status()}`);
    assert(hd['x-content-type-options'] === 'nosniff', `${a.filename}: nosniff`);
    assert((hd['content-disposition'] || '').startsWith('attachment'), `${a.filename}: disposition ${hd['content-disposition']}`);
    // asked inline: only real raster images may be; never SVG or HTML
    const ri = await page.request.get(url + '?inline=1');
    const ctype = (ri.headers()['content-type'] || '');
    const disp = (ri.headers()['content-disposition'] || '');
    assert(!(disp.startsWith('inline') && /svg|html|xml/.test(ctype)), `${a.filename} inline as ${ctype}`);
    // and opened in a tab: no script runs
    await other.goto(url + '?inline=1').catch(() => {});   // a download throws
    await sleep(200);
    assert((await other.evaluate(() => window.__pwned).catch(() => undefined)) === undefined, a.filename + ' ran script');
  }
  await other.close();
  await checkClean(await probe());
}, { keepGoing: true });

await steps.step('nothing ran, nothing leaked (whole run)', async () => {
  await checkClean(await probe());
}, { keepGoing: true });

// The detectors themselves: with the frame's sandbox taken off and the
// /html answer replaced by an unsanitised payload without CSP, the
// same checks must see the script run (else the steps above prove
// nothing).
await steps.step('self-check: the checks catch a payload that runs', async () => {
  const payload = `<p>HOSTILE-SELF-BODY</p><script>window.top.__pwned = 1; alert('self');
    fetch('http://127.0.0.1:${conf.canary_port}/self-check').catch(() => {});</script>`;
  await page.route('**/api/folders/*/messages/*/html*', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: payload }));
  await page.evaluate(() => document.getElementById('msg-html').removeAttribute('sandbox'));
  await row(page, 'Hostile 01').locator('button.open').click();
  let caught = '';
  for (let i = 0; i < 20 && !caught; i++) {
    await sleep(250);
    const p = await probe();
    if (p.top === undefined && !dialogs.length) continue;
    try { await checkClean(p); } catch (e) { caught = e.message; }
  }
  await page.unroute('**/api/folders/*/messages/*/html*');
  await sleep(300);
  canaryHits.splice(0);
  assert(caught, 'the unsafe page went unnoticed');
  console.log('        (caught: ' + caught.slice(0, 100) + ')');
}, { keepGoing: true });

await browser.close();
canary.close();
process.exit(steps.finish());
