async def test_me_answers_for_a_new_tenant(tenant):
    response = await tenant.client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert response.json()["namespaces"] == ["default", "main"]
