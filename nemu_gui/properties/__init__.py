"""The properties dock: forms that edit the selected node or link through the controller."""
