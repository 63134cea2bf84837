// Drives the web console in Debian's headless Chromium through playwright-core
// (installed in web/node_modules by scripts/setup.sh) and writes what it saw as
// JSON; test_console.sh makes the checks, so every outcome is a pass or a FAIL.
//
//   node console.mjs URL TOKEN SERVICE SCREENSHOT RESULT_JSON
//
// Opens URL#token=TOKEN (as `make demo` prints it), waits for the dashboard,
// reads every NF's rx_pkts twice 3 s apart, clicks "+" on SERVICE's scale
// control, waits for the page to list one more instance, saves a screenshot.
// Records every request the page made, so the test can check that nothing
// was fetched from outside the manager.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const [url, token, service, shot, resultPath] = process.argv.slice(2);
const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const R = { loaded: false, nfs: [], before: {}, after: {}, ui_instances_before: null,
	ui_instances_after: null, clicked: false, requests: [], page_errors: [], console_errors: [], toasts: [], error: null };
const save = () => writeFileSync(resultPath, JSON.stringify(R, null, 1));
const deadline = setTimeout(() => {
	R.error = 'console.mjs: timed out after 90 s';
	save();
	process.exit(2);
}, 90000);

/* rx_pkts per NF as the dashboard shows it ("12,345" -> 12345) */
async function counters(page) {
	return page.$$eval('tr[data-nf]', (rows) => Object.fromEntries(rows.map((r) => [
		r.querySelector('td a').textContent.trim(),
		Number(r.querySelector('[data-field="rx_pkts"]').textContent.replace(/[^0-9]/g, '')),
	])));
}

const uiInstances = (page) =>
	page.locator(`.svc-card[data-service="${service}"] tr[data-nf]`).count();

const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
	const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
	page.on('request', (q) => R.requests.push(q.url()));
	page.on('pageerror', (e) => R.page_errors.push(e.message));
	page.on('console', (m) => m.type() === 'error' && R.console_errors.push(m.text()));
	const res = await page.goto(`${url}#token=${encodeURIComponent(token)}`, { timeout: 15000 });
	R.status = res ? res.status() : null;
	R.title = await page.title();
	await page.waitForSelector(`.svc-card[data-service="${service}"] tr[data-nf]`, { timeout: 15000 });
	R.loaded = true;
	R.token_stored = await page.evaluate(() => localStorage.getItem('bulkhead.token'));
	R.address_after = page.url();
	R.nfs = await page.$$eval('tr[data-nf] td a', (as) => as.map((a) => a.textContent.trim()));
	R.states = await page.$$eval('tr[data-nf] .badge', (bs) => bs.map((b) => b.textContent.trim()));
	R.isolation = await page.locator('[data-service="web"] [data-field="isolation"]')
		.textContent({ timeout: 5000 }).catch(() => null);
	R.not_isolated = await page.locator(`.svc-card[data-service="${service}"] [data-field="isolation"]`).count();
	R.before = await counters(page);
	await page.waitForTimeout(3000);
	R.after = await counters(page);

	R.ui_instances_before = await uiInstances(page);
	await page.click(`.svc-card[data-service="${service}"] [data-action="scale-up"]`);
	R.clicked = true;
	await page.waitForFunction(([s, n]) =>
		document.querySelectorAll(`.svc-card[data-service="${s}"] tr[data-nf]`).length > n,
	[service, R.ui_instances_before], { timeout: 10000 }).catch(() => {});
	R.ui_instances_after = await uiInstances(page);
	R.toasts = await page.locator('.toast').allTextContents();

	/* a picture for a person: the top of the dashboard, charts filled in, toasts gone */
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.waitForTimeout(2500);
	await page.waitForFunction(() => !document.querySelector('.toast'), null, { timeout: 8000 }).catch(() => {});
	await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
	R.error = e.message.split('\n')[0];
	try {
		const page = browser.contexts()[0]?.pages()[0];
		if (page) await page.screenshot({ path: shot, fullPage: true });
	} catch {
		/* no picture then */
	}
} finally {
	await browser.close();
	clearTimeout(deadline);
	save();
}
