"""users.upload_bytes: the bytes each user stores, kept by one conditional UPDATE per upload

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('upload_bytes', sa.BigInteger(), server_default='0', nullable=False)
        )
    # Start every counter at what the user already stores.
    op.execute(
        "UPDATE users SET upload_bytes = COALESCE("
        "(SELECT SUM(uploads.size) FROM uploads WHERE uploads.owner_id = users.id), 0)"
    )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('upload_bytes')
