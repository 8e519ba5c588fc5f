from customers.models import Customer
from posvenda import roles


def test_agent_works_only_own_customers(agent, other_agent):
    mine = Customer(owner=agent, name="A")
    theirs = Customer(owner=other_agent, name="B")
    unowned = Customer(owner=None, name="C")
    assert roles.can_view_customers(agent)
    assert roles.can_edit_customer(agent, mine)
    assert not roles.can_edit_customer(agent, theirs)
    assert not roles.can_edit_customer(agent, unowned)
    assert not roles.can_reassign_owner(agent)
    assert not roles.can_delete_customer(agent)
    assert not roles.can_import(agent)
    assert not roles.can_manage_users(agent)


def test_manager_works_every_customer_but_does_not_manage_users(manager, other_agent):
    theirs = Customer(owner=other_agent, name="B")
    assert roles.can_edit_customer(manager, theirs)
    assert roles.can_reassign_owner(manager)
    assert roles.can_delete_customer(manager)
    assert roles.can_import(manager)
    assert not roles.can_manage_users(manager)


def test_admin_role_includes_manager_rights_and_user_management(admin_user, other_agent):
    assert roles.can_edit_customer(admin_user, Customer(owner=other_agent, name="B"))
    assert roles.can_manage_users(admin_user)
    assert roles.primary_role(admin_user) == roles.ADMIN


def test_a_user_without_a_role_can_do_nothing(no_role_user):
    assert not roles.can_view_customers(no_role_user)
    assert not roles.can_create_customer(no_role_user)
    assert roles.primary_role(no_role_user) is None


def test_admin_group_holds_every_permission_after_migrate(db):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.get(name=roles.ADMIN)
    assert group.permissions.count() == Permission.objects.count() > 0
