// scenario.mjs - the webmail as a user drives it, in headless Chromium:
// log in, read a text and an HTML message, reply with an attachment,
// find the reply by search, move it, delete it, empty Trash, log out
// (issue 6), with the other parts of the UI on the way: paging, sorting,
// flags, keyboard shortcuts, new mail without a reload, folders, CSRF,
// phone width.  Run by driver.py (run.sh), which made the site and mail.
import { conf, launch, Steps, assert, until, deliver, login, row, shown, sleep } from './lib.mjs';

const steps = new Steps('scenario');
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
steps.page = page;
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
page.on('dialog', async (d) => { consoleErrors.push('dialog: ' + d.message()); await d.dismiss(); });

const unique = 'zebrafinch' + Date.now().toString(36);

await steps.step('login refused with a wrong password', async () => {
  await page.goto(conf.base + '/');
  await page.waitForSelector('#login-form:visible');
  await page.fill('#login-address', conf.alice);
  await page.fill('#login-password', 'not the password');
  await page.click('#login-submit');
  await until(async () => (await page.textContent('#login-error')).length > 0, 10000, 'login error');
  assert(await page.isHidden('#app'), 'app hidden after a failed login');
});

await steps.step('login', async () => {
  await login(page, conf.alice, conf.password);
  const names = await page.locator('#folder-list .folder-name').allTextContents();
  assert(names[0] === 'Inbox', 'Inbox first, got ' + names.join(','));
  const count = await page.locator('#message-list li.msg').count();
  assert(count === 50, 'first page of 50 messages, got ' + count);
  assert((await page.textContent('#page-info')).includes('of 60'), 'total 60: ' + await page.textContent('#page-info'));
  const badge = await page.locator('.folder[data-folder="INBOX"] .badge').textContent();
  assert(badge === '60', 'inbox unread badge 60, got ' + badge);
  assert(await row(page, 'Plain text hello').evaluate((el) => el.classList.contains('unread')), 'unread bold');
});

await steps.step('read a text message', async () => {
  await row(page, 'Plain text hello').locator('button.open').click();
  await shown(page, 'Plain text hello');
  assert((await page.textContent('#msg-subject')) === 'Plain text hello', 'subject');
  assert((await page.textContent('#msg-from')).includes('bob@' + conf.domain), 'from');
  const text = await page.textContent('#msg-text');
  assert(text.includes('Café at noon?'), 'quoted-printable text decoded: ' + text);
  assert(await page.isHidden('#msg-html'), 'no iframe for a text message');
  await until(async () => !(await row(page, 'Plain text hello').evaluate((el) => el.classList.contains('unread'))), 5000, 'marked read');
});

await steps.step('read an HTML message', async () => {
  await row(page, 'HTML newsletter').locator('button.open').click();
  await shown(page, 'HTML newsletter');
  await page.waitForSelector('#msg-html:visible');
  const sandbox = await page.getAttribute('#msg-html', 'sandbox');
  assert(sandbox === 'allow-same-origin allow-popups allow-popups-to-escape-sandbox', 'sandbox: ' + sandbox);
  const frame = page.frameLocator('#msg-html');
  await frame.locator('text=Big news of the week').waitFor({ timeout: 10000 });
  assert(await page.isVisible('#msg-images'), 'remote images banner shown');
  // the inline (cid:) image is served by the webmail and loads
  await until(() => frame.locator('img[alt=logo]').evaluate((img) => img.complete && img.naturalWidth > 0),
    10000, 'the inline image loaded');
  const tracker = await frame.locator('img[alt=tracker]').count();
  if (tracker) {
    const src = await frame.locator('img[alt=tracker]').getAttribute('src');
    assert(!src || !src.includes('127.0.0.1:' + conf.canary_port), 'tracker src not remote: ' + src);
  }
  await page.click('#msg-show-images');
  await until(async () => (await page.getAttribute('#msg-html', 'src')).includes('images=1'), 5000, 'images=1');
});

await steps.step('message with an attachment has a download link', async () => {
  await row(page, 'Report with attachment').locator('button.open').click();
  await shown(page, 'Report with attachment');
  await page.waitForSelector('#msg-attachments:visible');
  const link = page.locator('#msg-attachment-list a', { hasText: 'report.csv' });
  const href = await link.getAttribute('href');
  const r = await page.request.get(conf.base + href);
  assert(r.status() === 200, 'attachment 200, got ' + r.status());
  assert((r.headers()['content-disposition'] || '').startsWith('attachment'), 'Content-Disposition attachment');
  assert((await r.text()).includes('feb,12'), 'attachment body');
  const download = page.waitForEvent('download', { timeout: 10000 });
  await link.click();
  const d = await download;
  assert(d.suggestedFilename() === 'report.csv', 'download name ' + d.suggestedFilename());
});

await steps.step('reply with an attachment', async () => {
  await row(page, 'Plain text hello').locator('button.open').click();
  await shown(page, 'Plain text hello');
  await page.keyboard.press('r');             // the shortcut
  await page.waitForSelector('#compose[open]');
  await until(async () => (await page.inputValue('#c-to')).includes('bob@' + conf.domain), 10000, 'To prefilled');
  assert((await page.inputValue('#c-subject')).startsWith('Re: Plain text hello'), 'Re: subject');
  assert((await page.inputValue('#c-text')).includes('> Hello Alice'), 'quoted text');
  await page.locator('#c-text').press('Control+Home');
  await page.locator('#c-text').type('Thanks Bob, the word is ' + unique + '.\n\n');
  await page.setInputFiles('#c-files', {
    name: 'notes.txt', mimeType: 'text/plain',
    buffer: Buffer.from('attached notes ' + unique + '\n'),
  });
  await page.waitForSelector('#c-uploads li.upload.done', { timeout: 15000 });
  await page.screenshot({ path: conf.artifacts + '/scenario-compose-reply.png' });
  await page.click('#c-send');
  await page.waitForFunction(() => !document.getElementById('compose').open, null, { timeout: 20000 });
  await until(async () => (await page.textContent('#status')).includes('sent'), 5000, 'sent status');
});

await steps.step('find the reply by search', async () => {
  await page.fill('#search-q', unique);
  await until(async () => {
    await page.press('#search-q', 'Enter');
    await sleep(400);
    return (await row(page, 'Re: Plain text hello').count()) > 0;
  }, 20000, 'search result');
  const r = row(page, 'Re: Plain text hello').first();
  assert((await r.locator('.in-folder').textContent()) === 'Sent', 'found in Sent');
  await r.locator('button.open').click();
  await shown(page, 'Re: Plain text hello');
  await page.waitForSelector('#msg-attachments:visible');
  assert((await page.textContent('#msg-attachment-list')).includes('notes.txt'), 'attachment on the sent copy');
  assert((await page.textContent('#msg-text')).includes(unique), 'text of the reply');
  // the original is marked answered
  const sess = await page.request.get(conf.base + '/api/search?q=' + encodeURIComponent('quarterly figures'));
  const hits = (await sess.json()).items || [];
  assert(hits.some((h) => h.subject === 'Plain text hello' && h.answered), 'original answered');
});

await steps.step('advanced search (subject, this folder)', async () => {
  await page.click('.folder[data-folder="INBOX"]');
  await page.click('#adv-toggle');
  await page.fill('#adv-search input[name=subject]', 'newsletter');
  await page.selectOption('#adv-search select[name=scope]', 'folder');
  await page.click('#adv-search button[type=submit]');
  await until(async () => (await row(page, 'HTML newsletter').count()) === 1 &&
    (await page.locator('#message-list li.msg').count()) === 1, 10000, 'one result');
  await page.keyboard.press('Escape');
  assert(await page.isHidden('#adv-search'), 'Escape closes the advanced form');
});

await steps.step('create a folder and move the reply there', async () => {
  await page.click('#folder-new');
  await page.fill('#folder-name', 'Projects');
  await page.click('#folder-form-ok');
  await page.waitForSelector('.folder[title="Projects"]');
  await page.fill('#search-q', unique);
  await page.press('#search-q', 'Enter');
  await row(page, 'Re: Plain text hello').first().waitFor();
  await row(page, 'Re: Plain text hello').first().locator('input.pick').check();
  const target = await page.locator('.folder[title="Projects"]').getAttribute('data-folder');
  await page.selectOption('#bulk-move', target);
  await until(async () => (await page.textContent('#status')).includes('moved'), 10000, 'moved');
  await page.click('.folder[title="Projects"]');
  await row(page, 'Re: Plain text hello').waitFor({ timeout: 10000 });
});

await steps.step('delete it (to Trash)', async () => {
  await row(page, 'Re: Plain text hello').locator('button.open').click();
  await shown(page, 'Re: Plain text hello');
  await page.keyboard.press('#');
  await until(async () => (await page.locator('#message-list li.msg').count()) === 0, 10000, 'Projects empty');
  await page.click('#folder-list li.role-trash .folder');
  await row(page, 'Re: Plain text hello').waitFor({ timeout: 10000 });
});

await steps.step('empty Trash', async () => {
  await page.waitForSelector('#empty-folder:visible');
  await page.click('#empty-folder');
  await page.click('#empty-folder');          // the confirming click
  await until(async () => (await page.locator('#message-list li.msg').count()) === 0, 10000, 'Trash empty');
  const folders = await (await page.request.get(conf.base + '/api/folders')).json();
  const trash = folders.items.find((f) => f.role === 'trash');
  assert(trash && trash.total === 0, 'Trash total 0');
});

await steps.step('forward with the original attachment', async () => {
  await page.click('.folder[data-folder="INBOX"]');
  await row(page, 'Report with attachment').locator('button.open').click();
  await shown(page, 'Report with attachment');
  await page.click('#msg-forward');
  await page.waitForSelector('#compose[open]');
  await until(async () => /^Fwd?:/i.test(await page.inputValue('#c-subject')), 10000, 'Fwd: subject');
  await page.waitForSelector('#c-uploads li.upload:has-text("report.csv")', { timeout: 10000 });
  await page.fill('#c-to', 'Bob <bob@' + conf.domain + '>');
  await page.click('#c-send');
  await page.waitForFunction(() => !document.getElementById('compose').open, null, { timeout: 20000 });
  await until(async () => (await page.textContent('#status')).includes('sent'), 5000, 'sent status');
});

await steps.step('conversation view', async () => {
  await page.selectOption('#order', 'asc');
  await page.check('#threads');
  const t = page.locator('#message-list li.msg', { has: page.locator('.thread-count', { hasText: '2' }) });
  await t.first().waitFor({ timeout: 10000 });
  assert((await t.count()) === 1, 'one thread of two');
  await t.locator('button.open').click();
  await page.waitForSelector('#msg-thread:visible', { timeout: 10000 });
  assert((await page.locator('#msg-thread-list li').count()) === 2, 'two messages in the thread');
  await page.uncheck('#threads');
  await page.selectOption('#order', 'desc');
  await until(async () => (await page.textContent('#page-info')).includes('of 60'), 10000, 'back to the flat list');
});

await steps.step('flag, unread, bulk and shift-click', async () => {
  await page.click('.folder[data-folder="INBOX"]');
  await row(page, 'Digest number 55').waitFor();
  await row(page, 'Digest number 55').locator('.flag-btn').click();
  await until(async () => (await row(page, 'Digest number 55').getAttribute('class')).includes('flagged'), 5000, 'flagged');
  const picks = page.locator('#message-list li.msg input.pick');
  await picks.nth(3).click();
  await picks.nth(7).click({ modifiers: ['Shift'] });
  assert((await page.locator('#message-list li.msg.selected').count()) === 5, 'shift-click selects 5');
  await page.click('[data-bulk=seen]');
  await until(async () => (await page.locator('#message-list li.msg.unread').count()) === 50 - 5 - 3, 10000,
    'five marked read (plus the three read before)');
});

await steps.step('sort by subject and page', async () => {
  await page.selectOption('#sort', 'subject');
  await page.selectOption('#order', 'asc');
  await until(async () => (await page.locator('#message-list .subject').first().textContent()) === 'Digest number 1', 10000, 'subject order');
  await page.click('#page-next');
  await until(async () => (await page.textContent('#page-info')).startsWith('51'), 10000, 'page 2');
  await page.click('#page-prev');
  await page.selectOption('#sort', 'date');
  await page.selectOption('#order', 'desc');
});

await steps.step('junk and not junk', async () => {
  await row(page, 'Digest number 20').locator('input.pick').check();
  await page.click('#bulk-junk');
  await until(async () => (await row(page, 'Digest number 20').count()) === 0, 10000, 'left the Inbox');
  await page.click('#folder-list li.role-junk .folder');
  await row(page, 'Digest number 20').locator('input.pick').check();
  await page.click('#bulk-notjunk');
  await until(async () => (await row(page, 'Digest number 20').count()) === 0, 10000, 'left Junk');
  await page.click('.folder[data-folder="INBOX"]');
  await row(page, 'Digest number 20').waitFor({ timeout: 10000 });
});

await steps.step('keyboard: j, k, u, c and Escape', async () => {
  await page.locator('#message-list li.msg button.open').first().click();
  await until(async () => (await page.locator('#message-list li.msg').first().getAttribute('aria-current')) === 'true',
    5000, 'the first message open');
  await page.keyboard.press('j');
  await until(async () => (await page.locator('#message-list li.msg').nth(1).getAttribute('aria-current')) === 'true',
    5000, 'j moved to the second message');
  await page.keyboard.press('k');
  await until(async () => (await page.locator('#message-list li.msg').first().getAttribute('aria-current')) === 'true', 5000, 'k back');
  await page.keyboard.press('u');
  await until(async () => (await page.locator('#message-list li.msg').first().getAttribute('class')).includes('unread'), 5000, 'u unread');
  await page.keyboard.press('c');
  await page.waitForSelector('#compose[open]');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.getElementById('compose').open, null, { timeout: 10000 });
});

await steps.step('new mail appears without a reload', async () => {
  await page.click('.folder[data-folder="INBOX"]');
  const before = await page.textContent('#page-info');
  await deliver(conf.alice, `From: Dave <dave@${conf.domain}>\nTo: ${conf.alice}\nSubject: Live arrival ${unique}\n` +
    `Date: ${new Date().toUTCString()}\nMessage-ID: <live-${unique}@x>\n\nHello live.\n`);
  await row(page, 'Live arrival ' + unique).waitFor({ timeout: 15000 });
  assert((await page.textContent('#page-info')) !== before, 'count changed');
});

await steps.step('draft saved and resumed', async () => {
  await page.click('#compose-btn');
  await page.fill('#c-to', 'bob@' + conf.domain);
  await page.fill('#c-subject', 'Draft ' + unique);
  await page.fill('#c-text', 'half written');
  await page.click('#c-save');
  await until(async () => (await page.textContent('#status')).includes('Draft saved'), 10000, 'saved');
  await page.click('#c-close');
  await page.click('#folder-list li.role-drafts .folder');
  await row(page, 'Draft ' + unique).locator('button.open').click();
  await shown(page, 'Draft ' + unique);
  await page.click('#msg-edit-draft');
  await page.waitForSelector('#compose[open]');
  assert((await page.inputValue('#c-subject')) === 'Draft ' + unique, 'draft subject back');
  await page.fill('#c-text', 'now finished');
  await page.click('#c-send');
  await page.waitForFunction(() => !document.getElementById('compose').open, null, { timeout: 20000 });
  await until(async () => (await row(page, 'Draft ' + unique).count()) === 0, 10000, 'draft gone after send');
});

await steps.step('rename and delete a folder', async () => {
  await page.click('.folder[title="Projects"]');
  await page.click('#folder-rename');
  await page.fill('#folder-name', 'Projects 2027');
  await page.click('#folder-form-ok');
  await page.waitForSelector('.folder[title="Projects 2027"]');
  await page.click('.folder[title="Projects 2027"]');
  await page.click('#folder-delete');
  await page.click('#folder-delete');
  await until(async () => (await page.locator('.folder[title="Projects 2027"]').count()) === 0, 10000, 'folder gone');
});

await steps.step('state changes without the CSRF token are refused', async () => {
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/actions', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ folder: 'INBOX', uids: [1], action: 'delete' }),
    });
    return r.status;
  });
  assert(status === 403, 'no token: 403, got ' + status);
});

await steps.step('phone width: one pane at a time', async () => {
  await page.setViewportSize({ width: 390, height: 800 });
  if (await page.isVisible('#back-to-list')) await page.click('#back-to-list');
  await page.click('#back-to-folders');
  await page.waitForSelector('#folders-pane:visible');
  assert(await page.isHidden('#list-pane'), 'list hidden while folders shown');
  await page.click('.folder[data-folder="INBOX"]');
  await page.waitForSelector('#list-pane:visible');
  assert(await page.isHidden('#folders-pane'), 'folders hidden');
  await page.locator('#message-list li.msg button.open').first().click();
  await page.waitForSelector('#read-pane:visible');
  assert(await page.isHidden('#list-pane'), 'list hidden while reading');
  await page.screenshot({ path: conf.artifacts + '/scenario-phone-message.png' });
  await page.click('#back-to-list');
  await page.waitForSelector('#list-pane:visible');
  await page.screenshot({ path: conf.artifacts + '/scenario-phone-list.png' });
  await page.setViewportSize({ width: 1280, height: 860 });
});

await steps.step('an ended session shows the login form', async () => {
  const cookies = await context.cookies();
  await context.clearCookies();
  // The next request gets 401: this click's, or one the page makes by
  // itself first (a refresh after the resize, the event stream
  // reconnecting), which shows the login form before the click lands.
  if (!(await page.isVisible('#login-form'))) {
    await page.click('.folder[data-folder="INBOX"]', { timeout: 10000 })
      .catch(async (e) => { if (!(await page.isVisible('#login-form'))) throw e; });
  }
  await page.waitForSelector('#login-form:visible', { timeout: 10000 });
  assert((await page.textContent('#login-error')).includes('session has ended'), 'says why');
  await context.addCookies(cookies);
  await page.reload();
  await page.waitForSelector('#app:visible', { timeout: 10000 });
});

await steps.step('log out', async () => {
  await page.click('#logout-btn');
  await page.waitForSelector('#login-form:visible');
  const r = await page.request.get(conf.base + '/api/session');
  assert(r.status() === 401, 'session gone: ' + r.status());
  await page.reload();
  await page.waitForSelector('#login-form:visible');
});

await steps.step('no script errors in the console', async () => {
  // network answers (the CSRF probe's 403, the image proxy's 502 for a
  // tracker nobody serves) are not script errors
  const real = consoleErrors.filter((e) => !/Failed to load resource/.test(e));
  assert(real.length === 0, real.join(' | '));
}, { keepGoing: true });

await browser.close();
process.exit(steps.finish());
