"""Dashboard widgets, one per module (like ``textual.widgets``).

Import from the submodules (``from tui.widgets.containers_pane import ContainersPane``) so loading the
package stays cheap.
"""
