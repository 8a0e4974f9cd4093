"""posts.source unique per author, so each user can import the same file once

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_posts_source', type_='unique')
        batch_op.create_unique_constraint('uq_posts_author_id_source', ['author_id', 'source'])


def downgrade():
    # Sources were unique for everyone before; two authors may now share one.
    op.execute(
        "UPDATE posts SET source = NULL WHERE source IS NOT NULL AND source IN "
        "(SELECT source FROM (SELECT source FROM posts GROUP BY source HAVING COUNT(*) > 1) AS d)"
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_posts_author_id_source', type_='unique')
        batch_op.create_unique_constraint('uq_posts_source', ['source'])
