"""composite indexes for work-order search

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_work_orders_category_state_due": ["category", "state", "due_at", "id"],
    "ix_work_orders_state_created": ["state", "created_at", "id"],
    "ix_work_orders_state_due_id": ["state", "due_at", "id"],
    "ix_work_orders_department_due": ["department", "due_at", "id", "state"],  # in (due_at, id) order
    "ix_work_orders_caller_created": ["caller_number", "created_at"],
    # unfiltered lists and exports; state last so "overdue" (state != closed) counts from the index
    "ix_work_orders_created": ["created_at", "id"],
    "ix_work_orders_due": ["due_at", "id", "state"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "work_orders", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "work_orders")
