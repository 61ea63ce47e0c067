async def test_create_and_read_back(client, tasks_url, headers, create):
    task = await create(title="  hello  ")
    assert task["title"] == "hello"
    response = await client.get(f"{tasks_url}/{task['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == task
