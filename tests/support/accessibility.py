"""The accessibility scan of the browser tests: axe-core (vendored in `axe/`, axe.min.js from
the npm package axe-core 4.14.1, MPL-2.0, its licence beside it) run in the page, for the WCAG
2.0/2.1 A and AA rules."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).parent / "axe" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Page) -> list[str]:
    """The page's WCAG A/AA violations as lines "rule: what (where, ...)"; empty when none."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map(v => ({
                id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")),
            }));
        }""",
        WCAG_A_AA,
    )
    return [f"{v['id']}: {v['help']} ({', '.join(v['nodes'][:5])})" for v in violations]
